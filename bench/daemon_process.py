"""What the daemon benches share: a free port, a ``monitor run`` child with its own config file
and log, readiness, and the child's RSS and CPU from ``/proc`` (Linux)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["cpu_seconds", "free_port", "launch", "rss_bytes", "wait_ready"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def launch(work: Path, config: dict[str, Any]) -> subprocess.Popen[bytes]:
    """``monitor run`` with ``config`` written to ``work/config.yaml``; output to
    ``work/monitor.log`` (the bench's own stdout stays for its results)."""
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    with open(work / "monitor.log", "wb") as log:  # the child keeps its own copy of the fd
        return subprocess.Popen([sys.executable, "-m", "monitor.cli.main", "-c",
                                 str(work / "config.yaml"), "run"], cwd=work, stdout=log,
                                stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})


def wait_ready(http: int, daemon: subprocess.Popen[bytes], timeout: float = 180) -> bool:
    """Whether ``/readyz`` answered 200 before ``timeout`` (False if the daemon exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and daemon.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http}/readyz", timeout=5) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False
