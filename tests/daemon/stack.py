"""A real Prometheus and Alertmanager (Debian packages) on loopback, plus a webhook receiver."""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from .procs import ROOT, free_port, http_get, wait_for


def need(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} not found: install the Debian package `{package}`")
    return path


class Webhook:
    """Collects what Alertmanager posts."""

    def __init__(self) -> None:
        self.port = free_port()
        self.payloads: list[dict[str, Any]] = []
        received = self.payloads

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self, name: str, status: str = "firing") -> list[dict[str, Any]]:
        return [a for p in self.payloads for a in p.get("alerts", [])
                if a["labels"].get("alertname") == name and a.get("status") == status]

    def stop(self) -> None:
        self.server.shutdown()


def shortened_alert_rules(tmp: Path, for_overrides: dict[str, str]) -> Path:
    """alerts.yml with short ``for:`` durations (the expressions are the shipped ones)."""
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule["for"] = for_overrides.get(rule["alert"], "0s")
    path = tmp / "alerts.yml"
    path.write_text(yaml.safe_dump(rules))
    return path


class Stack:
    def __init__(self, tmp: Path, targets: list[str], rules: Path, webhook: Webhook) -> None:
        self.tmp = tmp
        self.am_port = free_port()
        self.prom_port = free_port()
        am_config = {
            "route": {"receiver": "test", "group_by": ["alertname", "source"],
                      "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"},
            "receivers": [{"name": "test", "webhook_configs": [
                {"url": f"http://127.0.0.1:{webhook.port}/hook", "send_resolved": True}]}],
        }
        (tmp / "alertmanager.yml").write_text(yaml.safe_dump(am_config))
        prom_config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s",
                       "scrape_timeout": "1s"},
            "rule_files": [str(rules)],
            "alerting": {"alertmanagers": [{"static_configs": [
                {"targets": [f"127.0.0.1:{self.am_port}"]}]}]},
            "scrape_configs": [{"job_name": "monitor",
                                "static_configs": [{"targets": targets}]}],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(prom_config))
        self.logs = [open(tmp / "alertmanager.log", "wb"), open(tmp / "prometheus.log", "wb")]  # noqa: SIM115 - closed in stop()
        self.alertmanager = subprocess.Popen([
            need("prometheus-alertmanager", "prometheus-alertmanager"),
            f"--config.file={tmp / 'alertmanager.yml'}", f"--storage.path={tmp / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{self.am_port}", "--cluster.listen-address="],
            stdout=self.logs[0], stderr=subprocess.STDOUT)
        self.prometheus = subprocess.Popen([
            need("prometheus", "prometheus"), f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{self.prom_port}"],
            stdout=self.logs[1], stderr=subprocess.STDOUT)
        wait_for(lambda: http_get(f"http://127.0.0.1:{self.prom_port}/-/ready")[0] == 200, 60,
                 "Prometheus ready", on_fail=lambda: self.tail("prometheus.log"))
        wait_for(lambda: http_get(f"http://127.0.0.1:{self.am_port}/-/ready")[0] == 200, 60,
                 "Alertmanager ready", on_fail=lambda: self.tail("alertmanager.log"))

    def tail(self, name: str) -> str:
        return "\n" + (self.tmp / name).read_text(errors="replace")[-3000:]

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.prom_port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": expr})
        status, body = http_get(url)
        assert status == 200, body
        return json.loads(body)["data"]["result"]

    def alerts(self, name: str, state: str = "firing", **labels: str) -> list[dict[str, Any]]:
        status, body = http_get(f"http://127.0.0.1:{self.prom_port}/api/v1/alerts")
        assert status == 200, body
        return [a for a in json.loads(body)["data"]["alerts"]
                if a["labels"].get("alertname") == name and a["state"] == state
                and all(a["labels"].get(k) == v for k, v in labels.items())]

    def stop(self) -> None:
        for proc in (self.prometheus, self.alertmanager):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for handle in self.logs:
            handle.close()
