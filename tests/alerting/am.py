"""A real Alertmanager (Debian's ``prometheus-alertmanager``) on a free loopback port, and a
webhook receiver served by the test that records every notification with its arrival time."""
from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(predicate: Callable[[], Any], timeout: float, what: str,
             on_fail: Callable[[], str] = lambda: "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if value := predicate():
                return value
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} {on_fail()}")


async def until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Await ``predicate()`` turning truthy (polled every 0.1 s); its value, or fail naming
    ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s: {what}"
        await asyncio.sleep(0.1)
    return value


class Receiver:
    """Collects what Alertmanager (or the monitor's own webhook) posts: (arrival, body, headers)."""

    def __init__(self, status: int = 200) -> None:
        self.port = free_port()
        self.status = status
        self.posts: list[tuple[float, dict[str, Any], dict[str, str], bytes]] = []
        posts = self.posts
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                arrived = time.time()
                if outer.status == 200:
                    posts.append((arrived, json.loads(raw), dict(self.headers), raw))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def alerts(self, status: str | None = None) -> list[tuple[float, dict[str, Any]]]:
        """(arrival, alert) for every alert in every notification, in arrival order."""
        return [(at, a) for at, body, _, _ in list(self.posts) for a in body.get("alerts", [])
                if status is None or a.get("status") == status]

    def first_arrival(self, finding_id: str, status: str = "firing") -> float | None:
        times = [at for at, a in self.alerts(status) if a["labels"].get("finding_id") == finding_id]
        return min(times) if times else None

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Alertmanager:
    """Started and stopped by the test, on the same port and storage across restarts."""

    def __init__(self, tmp: Path, receiver: Receiver, group_by: list[str]) -> None:
        self.binary = shutil.which("prometheus-alertmanager")
        if self.binary is None:
            pytest.fail("prometheus-alertmanager not found: install the Debian package")
        self.tmp = tmp
        self.port = free_port()
        config = {"route": {"receiver": "hook", "group_by": group_by, "group_wait": "1s",
                            "group_interval": "1s", "repeat_interval": "4h"},
                  "receivers": [{"name": "hook", "webhook_configs": [
                      {"url": receiver.url, "send_resolved": True}]}]}
        (tmp / "am.yml").write_text(yaml.safe_dump(config))
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = open(tmp / "am.log", "ab")  # noqa: SIM115 - closed in stop()
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([
            self.binary or "", f"--config.file={self.tmp / 'am.yml'}",
            f"--storage.path={self.tmp / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address="],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: http_get(f"{self.url}/-/ready")[0] == 200, 60, "Alertmanager ready",
                 on_fail=lambda: (self.tmp / "am.log").read_text(errors="replace")[-2000:])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def close(self) -> None:
        self.stop()
        self.log.close()
