#!/usr/bin/env python3
"""Soak: ``monitor run`` fed 2,000 Log Exporter events/s over TCP for 10+ minutes.

Prints the daemon's resident memory (RSS) every sample, and at the end RSS after warm-up vs
RSS at the end (the ratio should stay within 1.2), events sent vs indexed, and the daemon's
CPU time.

RSS breathes with every bulk batch and rule run (±15 % between 15-second samples), so one
sample against one sample measures the phase, not a leak: the verdict compares the median of
the first ``--window`` seconds after warm-up with the median of the last ``--window`` seconds
(single samples are printed too). Warm-up lasts one rule interval (300 s) plus a margin: by
then every job has run once and the bounded caches (IP validity, timestamps) have filled. It runs against the Elasticsearch at ``--es`` under a throw-away index prefix that
is deleted afterwards (``--keep`` keeps it). Not a test: it never fails on a number.

    python bench/soak.py --minutes 16 --rate 2000 --es http://127.0.0.1:9200
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.simulate.checkpoint import SimConfig, generate

sys.path.insert(0, str(ROOT / "bench"))
from daemon_process import cpu_seconds, free_port, launch, rss_bytes, wait_ready


def metric(port: int, name: str, labels: str = "") -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + labels + " ") or line.startswith(name + labels + "{") \
                    and not labels:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


class Sender(threading.Thread):
    def __init__(self, port: int, rate: int) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.rate = rate
        self.sent = 0
        self.running = True

    def run(self) -> None:
        seed = 0
        next_tick = time.monotonic()
        while self.running:
            seed += 1
            lines = [line for _, line in generate(SimConfig(
                count=self.rate, seed=seed, start=datetime.now(UTC),
                events_per_second=self.rate))]
            self.sock.sendall("".join(line + "\n" for line in lines).encode())
            self.sent += len(lines)
            next_tick += 1.0
            time.sleep(max(0.0, next_tick - time.monotonic()))
        self.sock.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=16.0,
                        help="total run time (default: 10 minutes measured after warm-up)")
    parser.add_argument("--rate", type=int, default=2000, help="events per second")
    parser.add_argument("--warmup", type=float, default=360.0, help="seconds before the baseline")
    parser.add_argument("--window", type=float, default=120.0,
                        help="seconds of samples whose median is compared (start vs end)")
    parser.add_argument("--es", default=os.environ.get("MONITOR_TEST_ES_URL",
                                                      "http://127.0.0.1:9200"))
    parser.add_argument("--sample", type=float, default=15.0, help="seconds between samples")
    parser.add_argument("--keep", action="store_true", help="keep the indices afterwards")
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING"],
                        help="daemon log level (INFO shows one line per job run)")
    args = parser.parse_args()

    prefix = f"soak-{int(time.time())}"
    work = Path(tempfile.mkdtemp(prefix="monitor-soak-"))
    tcp, http = free_port(), free_port()
    config = {
        "elasticsearch": {"hosts": [args.es], "index_prefix": prefix},
        "sources": {"syslog": {"enabled": True, "udp": None, "tcp": f"127.0.0.1:{tcp}"}},
        "http": {"listen": f"127.0.0.1:{http}"},
        "logging": {"format": "json", "level": args.log_level},
    }
    daemon = launch(work, config)
    if not wait_ready(http, daemon, 120):
        print("daemon did not become ready; see", work / "monitor.log")
        return 1

    sender = Sender(tcp, args.rate)
    started = time.monotonic()
    sender.start()
    samples: list[tuple[float, int, float, int]] = []
    print(f"soak: {args.rate} events/s for {args.minutes} min, prefix {prefix}, log {work}")
    print(f"{'t_s':>6} {'rss_mb':>8} {'sent':>10} {'ingested':>10} {'cpu_s':>8}")
    end = started + args.minutes * 60
    while time.monotonic() < end:
        time.sleep(args.sample)
        elapsed = time.monotonic() - started
        rss = rss_bytes(daemon.pid)
        ingested = metric(http, "monitor_source_events_ingested_total", '{source="syslog"}')
        samples.append((elapsed, rss, ingested, sender.sent))
        print(f"{elapsed:6.0f} {rss / 2**20:8.1f} {sender.sent:10d} {ingested:10.0f} "
              f"{cpu_seconds(daemon.pid):8.1f}", flush=True)
    sender.running = False
    sender.join(timeout=30)
    drain_deadline = time.monotonic() + 120
    while time.monotonic() < drain_deadline:
        ingested = metric(http, "monitor_source_events_ingested_total", '{source="syslog"}')
        duplicates = metric(http, "monitor_source_events_duplicate_total", '{source="syslog"}')
        dead = metric(http, "monitor_source_events_dead_lettered_total", '{source="syslog"}')
        if ingested + duplicates + dead >= sender.sent:
            break
        time.sleep(2)
    final_rss = rss_bytes(daemon.pid)
    cpu = cpu_seconds(daemon.pid)
    daemon.send_signal(signal.SIGTERM)
    code = daemon.wait(timeout=120)
    warm = [s for s in samples if s[0] >= args.warmup]
    baseline = warm[0][1] if warm else samples[0][1]
    peak = max(s[1] for s in samples)
    duration = samples[-1][0]
    first = [s[1] for s in warm if s[0] < warm[0][0] + args.window] or [baseline]
    last = [s[1] for s in samples if s[0] > duration - args.window]
    start_median, end_median = statistics.median(first), statistics.median(last)
    result = {
        "minutes": round(duration / 60, 1), "rate_target": args.rate,
        "rate_sent": round(sender.sent / duration), "sent": sender.sent,
        "ingested": int(ingested), "duplicates": int(duplicates), "dead_lettered": int(dead),
        "rss_after_warmup_mb": round(baseline / 2**20, 1),
        "rss_end_mb": round(final_rss / 2**20, 1), "rss_peak_mb": round(peak / 2**20, 1),
        "rss_end_over_warmup": round(final_rss / baseline, 3),
        "measured_minutes_after_warmup": round((duration - (warm[0][0] if warm else 0)) / 60, 1),
        "rss_median_first_window_mb": round(start_median / 2**20, 1),
        "rss_median_last_window_mb": round(end_median / 2**20, 1),
        "rss_median_end_over_start": round(end_median / start_median, 3),
        "daemon_cpu_seconds": round(cpu, 1), "exit_code": code,
    }
    print(json.dumps(result, indent=2))
    if not args.keep:
        request = urllib.request.Request(f"{args.es}/{prefix}-*?expand_wildcards=all",
                                         method="DELETE")
        urllib.request.urlopen(request, timeout=120).read()
        request = urllib.request.Request(f"{args.es}/_index_template/{prefix}-*", method="DELETE")
        urllib.request.urlopen(request, timeout=120).read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
