#!/usr/bin/env python3
"""Detection latency: from a scenario's first line reaching the receiver to its finding.

Runs ``monitor run`` (bundled rule pack, default schedule: the fast lane is on because the
syslog receiver is the only source) against the Elasticsearch at ``--es`` under a throw-away
index prefix, streams simulated Log Exporter lines at ``--rate`` events/s over TCP, and injects
one attack scenario every ``--every`` seconds, round robin over four rule types:

* match        an accepted-rule change by a new administrator (rule changed to Accept)
* threshold    admin login failures from a new address (admin brute force)
* sequence     the same failures followed by a success (brute force then success)
* cardinality  a port scan from a new address (port scan)

Each scenario has its own attacker address (or administrator), so each finding is matched to
the scenario that caused it. Latency is ``event.created`` of the finding document (when the
engine built it, just before it was written) minus the moment the scenario's FIRST line was
handed to the receiver's socket (conservative: for threshold/sequence the burst itself lasts
about 2 s). With ``--alertmanager`` (Debian's ``prometheus-alertmanager`` on loopback, route
``group_by: [finding_id]``, ``group_wait: 1s``, a webhook receiver served here) it also measures
(b): the same first line to the alert's arrival at that webhook. Prints p50/p95/max per rule
type and the daemon's CPU share over the run. Not a test: it never fails on a number.

    python bench/latency.py --es http://127.0.0.1:9200 --minutes 3
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "bench"))
from daemon_process import cpu_seconds, free_port, launch, wait_ready

from monitor.simulate.checkpoint import (
    BruteForce,
    OutOfBandChange,
    PortScan,
    SimConfig,
    generate,
)

RULES = {"match": "506172a3-94a5-4fb0-81d2-e3f405162841",
         "threshold": "9a1b2c3d-5e6f-4a7b-8c9d-0e1f2a3b4c51",
         "sequence": "4d5e6f70-8192-4a3b-9c4d-5e6f7a8b9c61",
         "cardinality": "5b0e7c1a-3d5e-4f7a-9a41-0c2f6b7d8e01"}
TYPES = ("match", "threshold", "cardinality", "sequence")


def scenario_lines(kind: str, n: int) -> tuple[str, list[str]]:
    """(the key its finding is grouped by, the scenario's lines timestamped now)."""
    attacker = f"203.0.{113 if n < 250 else 114}.{n % 250 + 1}"
    if kind == "match":
        key, item = f"rogue{n}", OutOfBandChange(admin=f"rogue{n}", at=0)
    elif kind == "cardinality":
        key, item = attacker, PortScan(attacker=attacker, at=0, ports=40, interval=0.02)
    else:  # threshold and sequence: failures then a success, 0.25 s apart
        key, item = attacker, BruteForce(attacker=attacker, admin=f"admin{n}", at=0,
                                         failures=8, interval=0.25, success=True)
    lines = [line for _, line in generate(SimConfig(count=0, seed=n, start=datetime.now(UTC),
                                                    scenarios=(item,)))]
    if kind == "match":
        lines = lines[:1]  # the rule change itself; publish/install follow later in real life
    return key, lines


class Sender(threading.Thread):
    """Baseline at ``rate`` lines/s in 0.1 s slices; injected lines go out at once."""

    def __init__(self, port: int, rate: int) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.rate = rate
        self.sent = 0
        self.running = True
        self.lock = threading.Lock()

    def inject(self, lines: list[str]) -> float:
        with self.lock:
            self.sock.sendall("".join(line + "\n" for line in lines).encode())
            self.sent += len(lines)
            return time.time()

    def run(self) -> None:
        seed, tick = 0, time.monotonic()
        while self.running:
            seed += 1
            lines = [line for _, line in generate(SimConfig(
                count=self.rate // 10, seed=seed, start=datetime.now(UTC),
                events_per_second=self.rate))]
            with self.lock:
                self.sock.sendall("".join(line + "\n" for line in lines).encode())
                self.sent += len(lines)
            tick += 0.1
            time.sleep(max(0.0, tick - time.monotonic()))


class Webhook:
    """Alertmanager's webhook receiver: first arrival time per finding id."""

    def __init__(self) -> None:
        self.port = free_port()
        self.first: dict[str, float] = {}
        first = self.first

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                now = time.time()
                for alert in body.get("alerts", []):
                    finding = alert.get("labels", {}).get("finding_id")
                    if finding and alert.get("status") == "firing":
                        first.setdefault(finding, now)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def start_alertmanager(work: Path, hook: Webhook) -> tuple[subprocess.Popen, str]:
    binary = shutil.which("prometheus-alertmanager")
    if binary is None:
        raise SystemExit("prometheus-alertmanager not found (Debian package)")
    port = free_port()
    (work / "am.yml").write_text(yaml.safe_dump({
        "route": {"receiver": "hook", "group_by": ["finding_id"], "group_wait": "1s",
                  "group_interval": "1s", "repeat_interval": "4h"},
        "receivers": [{"name": "hook", "webhook_configs": [
            {"url": f"http://127.0.0.1:{hook.port}/hook"}]}]}))
    log = open(work / "am.log", "wb")  # noqa: SIM115 - the child holds it
    proc = subprocess.Popen([binary, f"--config.file={work / 'am.yml'}",
                             f"--storage.path={work / 'am-data'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                            stdout=log, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def findings(es: str, prefix: str) -> list[dict]:
    body = json.dumps({"size": 2000, "_source": ["rule.id", "finding.group_key", "finding.id",
                                                 "event.created"],
                       "query": {"terms": {"rule.id": list(RULES.values())}}}).encode()
    request = urllib.request.Request(
        f"{es}/{prefix}-findings-*/_search?ignore_unavailable=true&allow_no_indices=true",
        data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return [hit["_source"] for hit in json.loads(response.read())["hits"]["hits"]]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def start_daemon(work: Path, es: str, prefix: str, tcp: int, http: int,
                 fast_lane: bool | None = None, alertmanager: str | None = None
                 ) -> subprocess.Popen:
    alerting = {"enabled": True, "alertmanager": {"urls": [alertmanager]}, "controls": False,
                "queue": {"dir": str(work / "alert-queue")}} if alertmanager else {}
    return launch(work, {
        "elasticsearch": {"hosts": [es], "index_prefix": prefix},
        **({"rules": {"fast_lane": {"enabled": fast_lane}}} if fast_lane is not None else {}),
        **({"alerting": alerting} if alerting else {}),
        "sources": {"syslog": {"enabled": True, "udp": None, "tcp": f"127.0.0.1:{tcp}",
                               "spool": {"dir": str(work / "spool")}}},
        "http": {"listen": f"127.0.0.1:{http}"},
        "logging": {"format": "json", "level": "INFO"},
    })


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--es", default=os.environ.get("MONITOR_TEST_ES_URL",
                                                      "http://127.0.0.1:9200"))
    parser.add_argument("--rate", type=int, default=2000, help="baseline events per second")
    parser.add_argument("--minutes", type=float, default=3.0, help="injection phase length")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between scenarios")
    parser.add_argument("--warmup", type=float, default=30.0,
                        help="seconds of baseline before the first scenario")
    parser.add_argument("--grace", type=float, default=90.0,
                        help="seconds to wait for the last findings")
    parser.add_argument("--keep", action="store_true", help="keep the indices afterwards")
    parser.add_argument("--no-fast-lane", action="store_true",
                        help="the rules' own schedules (the baseline: 5-minute interval, "
                             "1-minute delay); give --grace 420")
    parser.add_argument("--alertmanager", action="store_true",
                        help="also measure to the alert at an Alertmanager webhook receiver")
    args = parser.parse_args()

    prefix = f"lat-{int(time.time())}"
    work = Path(tempfile.mkdtemp(prefix="monitor-latency-"))
    tcp, http = free_port(), free_port()
    hook = Webhook() if args.alertmanager else None
    am, am_url = start_alertmanager(work, hook) if hook else (None, None)
    daemon = start_daemon(work, args.es, prefix, tcp, http,
                          fast_lane=False if args.no_fast_lane else None, alertmanager=am_url)
    if not wait_ready(http, daemon):
        print("daemon did not become ready; see", work / "monitor.log")
        daemon.kill()
        return 1
    sender = Sender(tcp, args.rate)
    sender.start()
    time.sleep(args.warmup)
    cpu0, wall0 = cpu_seconds(daemon.pid), time.monotonic()
    injected: list[tuple[str, str, float]] = []
    n = 0
    end = time.monotonic() + args.minutes * 60
    while time.monotonic() < end:
        kind = TYPES[n % len(TYPES)]
        key, lines = scenario_lines(kind, n)
        injected.append((kind, key, sender.inject(lines)))
        n += 1
        time.sleep(args.every)
    cpu = cpu_seconds(daemon.pid) - cpu0
    wall = time.monotonic() - wall0
    deadline = time.monotonic() + args.grace
    latencies: dict[str, list[float]] = {kind: [] for kind in TYPES}
    alerted: dict[str, list[float]] = {kind: [] for kind in TYPES}
    missing: list[tuple[str, str]] = []
    while True:
        found: dict[tuple[str, str], tuple[float, str]] = {}
        for doc in findings(args.es, prefix):
            created = datetime.fromisoformat(doc["event"]["created"].replace("Z", "+00:00"))
            values = {part.split("=", 1)[-1] for part in doc["finding"]["group_key"].split("|")}
            for kind, rule_id in RULES.items():
                if doc["rule"]["id"] == rule_id:
                    for value in values:  # exact values: 203.0.113.1 is not 203.0.113.11
                        moment = (created.timestamp(), doc["finding"]["id"])
                        found[(kind, value)] = min(found.get((kind, value), moment), moment)
        missing = []
        latencies = {kind: [] for kind in TYPES}
        alerted = {kind: [] for kind in TYPES}
        for kind, key, sent_at in injected:
            if (kind, key) not in found:
                missing.append((kind, key))
                continue
            created_at, finding = found[(kind, key)]
            latencies[kind].append(created_at - sent_at)
            if hook is not None:
                if finding in hook.first:
                    alerted[kind].append(hook.first[finding] - sent_at)
                else:
                    missing.append((kind, f"{key} (alert)"))
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(2)
    sender.running = False
    sender.join(timeout=30)
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=120)
    result = {"rate": args.rate, "fast_lane": not args.no_fast_lane,
              "measured_minutes": round(wall / 60, 2),
              "scenarios": len(injected), "missing": missing,
              "daemon_cpu_share_of_one_core": round(cpu / wall, 3)}
    for name, table in (("per_type", latencies), ("alert_per_type", alerted)):
        if name == "alert_per_type" and hook is None:
            continue
        result[name] = {}
        for kind, values in table.items():
            if values:
                result[name][kind] = {
                    "n": len(values), "p50_s": round(statistics.median(values), 1),
                    "p95_s": round(percentile(values, 0.95), 1), "max_s": round(max(values), 1)}
        every = [v for values in table.values() for v in values]
        if every:
            result[name]["all"] = {"n": len(every), "p50_s": round(statistics.median(every), 1),
                                   "p95_s": round(percentile(every, 0.95), 1),
                                   "max_s": round(max(every), 1)}
    if am is not None:
        am.terminate()
        am.wait(timeout=30)
    print(json.dumps(result, indent=2))
    if not args.keep:
        for path in (f"/{prefix}-*?expand_wildcards=all", f"/_index_template/{prefix}-*"):
            request = urllib.request.Request(f"{args.es}{path}", method="DELETE")
            urllib.request.urlopen(request, timeout=120).read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
