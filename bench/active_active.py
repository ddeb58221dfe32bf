#!/usr/bin/env python3
"""Ingest throughput of one vs two ``monitor run`` instances against the same Elasticsearch.

Each round starts N instances (1, then 2) with their own syslog TCP receiver, sends
``--lines`` prebuilt Log Exporter lines split evenly across them as fast as the receivers take
them, and measures the time from the first byte sent to the moment Elasticsearch counts every
line. Each round gets its own index prefix; the one-instance round is the baseline of the
two-instance round, measured in the same run (``two_over_one``). Not a test: it never fails on
a number.

    python bench/active_active.py --es http://127.0.0.1:9200 --lines 200000
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from daemon_process import cpu_seconds, free_port, wait_ready
from latency import start_daemon

from monitor.simulate.checkpoint import SimConfig, generate


def es_json(es: str, path: str, body: dict | None = None, method: str = "POST") -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{es}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


def count(es: str, prefix: str) -> int:
    es_json(es, f"/{prefix}-events-*/_refresh?ignore_unavailable=true&allow_no_indices=true")
    return int(es_json(es, f"/{prefix}-events-*/_count?ignore_unavailable=true"
                           "&allow_no_indices=true", {})["count"])


def payloads(lines: int, parts: int, seed: int) -> list[bytes]:
    """``lines`` simulated lines, timestamped now, cut into ``parts`` byte strings."""
    text = [line for _, line in generate(SimConfig(count=lines, seed=seed,
                                                   start=datetime.now(UTC),
                                                   events_per_second=5000))]
    size = len(text) // parts
    return ["".join(line + "\n" for line in text[i * size:(i + 1) * size]).encode()
            for i in range(parts)]


def one_round(es: str, instances: int, lines: int, work: Path, seed: int) -> dict:
    prefix = f"aa{instances}-{int(time.time())}"
    daemons, ports = [], []
    for i in range(instances):
        tcp, http = free_port(), free_port()
        folder = work / f"{prefix}-{i}"
        folder.mkdir()
        daemons.append((start_daemon(folder, es, prefix, tcp, http), http))
        ports.append(tcp)
    try:
        for daemon, http in daemons:
            if not wait_ready(http, daemon):
                raise SystemExit(f"daemon did not become ready; see {work}")
        time.sleep(5)  # startup jobs (first rules run, compliance) out of the way
        bodies = payloads(lines, instances, seed)
        cpu0 = [cpu_seconds(d.pid) for d, _ in daemons]
        began = time.monotonic()

        def send(port: int, body: bytes) -> None:
            with socket.create_connection(("127.0.0.1", port), timeout=300) as sock:
                sock.sendall(body)

        threads = [threading.Thread(target=send, args=(p, b)) for p, b in zip(ports, bodies, strict=True)]
        for thread in threads:
            thread.start()
        total = sum(body.count(b"\n") for body in bodies)
        while count(es, prefix) < total:
            if time.monotonic() - began > 900:
                raise SystemExit("not all lines indexed within 15 minutes")
            time.sleep(0.5)
        elapsed = time.monotonic() - began
        cpu = sum(cpu_seconds(d.pid) - c for (d, _), c in zip(daemons, cpu0, strict=True))
        return {"instances": instances, "lines": total, "seconds": round(elapsed, 1),
                "events_per_s": round(total / elapsed), "daemon_cpu_s": round(cpu, 1),
                "events_per_daemon_cpu_s": round(total / cpu) if cpu else None}
    finally:
        for daemon, _ in daemons:
            daemon.send_signal(signal.SIGTERM)
        for daemon, _ in daemons:
            daemon.wait(timeout=120)
        for path in (f"/{prefix}-*?expand_wildcards=all", f"/_index_template/{prefix}-*"):
            es_json(es, path, method="DELETE")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--es", default=os.environ.get("MONITOR_TEST_ES_URL",
                                                      "http://127.0.0.1:9200"))
    parser.add_argument("--lines", type=int, default=200_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="monitor-aa-"))
    results = [one_round(args.es, n, args.lines, work, seed=n) for n in (1, 2)]
    ratio = results[1]["events_per_s"] / results[0]["events_per_s"]
    print(json.dumps({"rounds": results, "two_over_one": round(ratio, 2)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
