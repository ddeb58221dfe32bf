"""Helpers for tests that run real processes: ``monitor run``, Prometheus, Alertmanager.

Everything listens on loopback on free ports, writes under the test's tmp folder, and is
stopped (by its own pid) when the test ends. Waits poll with generous deadlines; nothing here
asserts on a timing.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.25,
             on_fail: Callable[[], str] = lambda: "") -> Any:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - the thing is not up yet
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}"
                         f" (last error: {last_error}) {on_fail()}")


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class MonitorProcess:
    """One ``monitor run`` with its own config file, log file and metrics port."""

    def __init__(self, tmp: Path, name: str, config: dict[str, Any]) -> None:
        self.dir = tmp / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = {**config}
        config.setdefault("http", {})["listen"] = f"127.0.0.1:{self.port}"
        config.setdefault("daemon", {}).setdefault("pidfile", str(self.dir / "monitor.pid"))
        config.setdefault("ha", {}).setdefault("instance_id", name)
        self.config_path = self.dir / "config.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = self.dir / "monitor.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.name = name

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MonitorProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-m", "monitor.cli.main", "-c",
                                      str(self.config_path), "run"], cwd=self.dir, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_lines(self) -> list[str]:
        return self.log().splitlines()

    def tail(self, n: int = 40) -> str:
        return "\n--- log of " + self.name + " ---\n" + "\n".join(self.log_lines()[-n:])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        status, body = http_get(f"{self.url}/metrics")
        assert status == 200
        out = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return out

    def metric(self, name: str, **labels: str) -> float | None:
        return self.metrics().get((name, tuple(sorted(labels.items()))))

    def wait_ready(self, timeout: float = 90) -> None:
        def ready() -> bool:
            if not self.alive():
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}"
                                     + self.tail())
            return http_get(f"{self.url}/readyz")[0] == 200

        wait_for(ready, timeout, f"{self.name} /readyz", on_fail=self.tail)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if getattr(self, "_log", None):
            self._log.close()


def base_config(es_url: str, prefix: str, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "elasticsearch": {"hosts": [es_url], "index_prefix": prefix},
        "ha": {"lease_seconds": 10, "renew_seconds": 2},
        "daemon": {"stats_interval_seconds": 1, "shutdown_timeout_seconds": 15},
        "logging": {"format": "json"},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def json_lines(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
