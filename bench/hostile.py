#!/usr/bin/env python3
"""Hostile mix: ``monitor run`` fed normal Log Exporter traffic plus hostile senders.

For ``--minutes`` (default 10): ``--rate`` normal events/s over TCP (default 2,000) with 5 % of
hostile lines mixed into the same stream (claimed times from 1970 to 9999, 60 KB runs of key
characters, lines over the size limit, forged loguids, binary garbage), ``--idle`` idle TCP
connections held open from several loopback addresses (default 200), and every
``--burst-every`` seconds a burst of ``--burst`` normal datagrams over UDP (default 2,000 every
30 s).

At the end it prints, against the same daemon: normal events sent vs indexed (0 lost is the bar),
the daemon's RSS as the median of the first ``--window`` seconds after warm-up vs the last
(within ±20 % is the bar), and the number of event indices after warm-up vs at the end
(unchanged is the bar; hostile times must not create indices). Normal events are told apart
from hostile ones by the hostile lines' source address (233.252.0.66) and the
``event_time_out_of_window`` tag. Not a test: it never fails on a number.

    python bench/hostile.py --minutes 10 --es http://127.0.0.1:9200
"""
from __future__ import annotations

import argparse
import json
import os
import random
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.simulate.checkpoint import SimConfig, generate

sys.path.insert(0, str(ROOT / "bench"))
from daemon_process import free_port, launch, rss_bytes, wait_ready

HOSTILE_SRC = "233.252.0.66"


def es(url: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read() or b"{}")


def normal_indexed(url: str, prefix: str) -> int:
    es(url, f"/{prefix}-events-*/_refresh?ignore_unavailable=true&allow_no_indices=true")
    # a normal line carries the simulator's loguid ("{0x...}"); a garbage line that the
    # normalizer still made a document of (no loguid) is not one of ours
    query = {"bool": {"filter": [{"prefix": {"event.id": "{0x"}}],
                      "must_not": [{"term": {"tags": "event_time_out_of_window"}},
                                   {"term": {"source.ip": HOSTILE_SRC}}]}}
    return int(es(url, f"/{prefix}-events-*/_count?ignore_unavailable=true"
                       "&allow_no_indices=true", {"query": query}).get("count", 0))


def event_indices(url: str, prefix: str) -> int:
    with urllib.request.urlopen(f"{url}/_cat/indices/{prefix}-events-*?format=json",
                                timeout=60) as response:
        return len(json.loads(response.read() or b"[]"))


def hostile_line(rng: random.Random, n: int) -> bytes:
    """One of the probes from the adversarial review, each with the hostile source address."""
    kind = n % 5
    head = "<134>1 {} gw-evil CheckPoint 1 - "
    if kind == 0:  # a claimed time anywhere from 1970 to 9999
        year, month = rng.randint(1970, 9999), rng.randint(1, 12)
        return (head.format(f"{year:04d}-{month:02d}-01T00:00:00Z")
                + f'[action:"Accept"; loguid:"{{0xbad,{n}}}"; src:"{HOSTILE_SRC}"]').encode()
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == 1:  # a 60 KB run of key characters without ':' (the tokenizer's worst case)
        return (head.format(now) + "[" + "k" * 60_000 + "]").encode()
    if kind == 2:  # longer than max_message_bytes
        return (head.format(now) + f'[src:"{HOSTILE_SRC}"; x:"' + "A" * 80_000 + '"]').encode()
    if kind == 3:  # a forged line claiming a predictable loguid of gateway 10.0.0.1
        return (head.format(now) + f'[loguid:"{{0x0,0x1,0x0a000001,0x{n:x}}}"; '
                f'origin:"10.0.0.1"; sequencenum:"1"; action:"Accept"; src:"{HOSTILE_SRC}"]'
                ).encode()
    return bytes(rng.getrandbits(8) for _ in range(300)).replace(b"\n", b" ")


class Sender(threading.Thread):
    """Normal events at ``rate``/s over one TCP connection, one hostile line per 19 normal."""

    def __init__(self, port: int, rate: int) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.rate = rate
        self.sent = 0
        self.hostile = 0
        self.running = True

    def run(self) -> None:
        rng = random.Random(7)
        seed, next_tick = 0, time.monotonic()
        while self.running:
            seed += 1
            lines = [line.encode() for _, line in generate(SimConfig(
                count=self.rate, seed=seed, start=datetime.now(UTC),
                events_per_second=self.rate))]
            out: list[bytes] = []
            for i, line in enumerate(lines):
                out.append(line)
                if i % 19 == 18:
                    out.append(hostile_line(rng, self.hostile))
                    self.hostile += 1
            self.sock.sendall(b"".join(line + b"\n" for line in out))
            self.sent += len(lines)
            next_tick += 1.0
            time.sleep(max(0.0, next_tick - time.monotonic()))
        self.sock.close()


def udp_burst(port: int, count: int, seed: int) -> int:
    lines = [line.encode() for _, line in generate(SimConfig(
        count=count, seed=100_000 + seed, start=datetime.now(UTC), events_per_second=count))]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for line in lines:
            sock.sendto(line, ("127.0.0.1", port))
    return len(lines)


def idle_connections(port: int, count: int) -> list[socket.socket]:
    held = []
    for i in range(count):
        sock = socket.socket()
        sock.bind((f"127.0.{1 + i // 50}.{2 + i % 50}", 0))  # spread over senders
        sock.connect(("127.0.0.1", port))
        held.append(sock)
    return held


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=2000, help="normal events per second (TCP)")
    parser.add_argument("--idle", type=int, default=200, help="idle TCP connections held open")
    parser.add_argument("--burst", type=int, default=2000, help="datagrams per UDP burst")
    parser.add_argument("--burst-every", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before the baseline")
    parser.add_argument("--window", type=float, default=60.0,
                        help="seconds of RSS samples whose median is compared (start vs end)")
    parser.add_argument("--sample", type=float, default=5.0)
    parser.add_argument("--es", default=os.environ.get("MONITOR_TEST_ES_URL",
                                                      "http://127.0.0.1:9200"))
    parser.add_argument("--keep", action="store_true", help="keep the indices afterwards")
    args = parser.parse_args()

    prefix = f"hostile-{int(time.time())}"
    work = Path(tempfile.mkdtemp(prefix="monitor-hostile-"))
    tcp, udp, http = free_port(), free_port(), free_port()
    config = {
        "elasticsearch": {"hosts": [args.es], "index_prefix": prefix},
        "sources": {"syslog": {"enabled": True, "udp": f"127.0.0.1:{udp}",
                               "tcp": f"127.0.0.1:{tcp}", "allowed_senders": ["127.0.0.0/8"],
                               "spool": {"dir": str(work / "spool")}}},
        "http": {"listen": f"127.0.0.1:{http}"},
        "logging": {"format": "json", "level": "WARNING"},
    }
    daemon = launch(work, config)
    if not wait_ready(http, daemon, 120):
        print("daemon did not become ready; see", work / "monitor.log")
        return 1

    try:
        return measure(args, daemon, prefix, work, tcp, udp)
    finally:
        if daemon.poll() is None:  # also on an error: never leave the daemon running
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=120)


def measure(args: argparse.Namespace, daemon: subprocess.Popen[bytes], prefix: str,
            work: Path, tcp: int, udp: int) -> int:
    """Drive the mix against the running daemon and print the verdict numbers."""
    sender = Sender(tcp, args.rate)
    held = idle_connections(tcp, args.idle)
    started = time.monotonic()
    sender.start()
    udp_sent, bursts, next_burst = 0, 0, started + args.burst_every / 2
    samples: list[tuple[float, int]] = []
    indices_after_warmup: int | None = None
    print(f"hostile mix: {args.rate}/s normal + 5% hostile over TCP, {args.idle} idle "
          f"connections, {args.burst} datagrams every {args.burst_every:.0f}s; prefix {prefix}")
    print(f"{'t_s':>6} {'rss_mb':>8} {'normal_sent':>12} {'hostile':>8}")
    end = started + args.minutes * 60
    next_sample = started + args.sample
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_burst:
            udp_sent += udp_burst(udp, args.burst, bursts)
            bursts += 1
            next_burst += args.burst_every
        if now >= next_sample:
            elapsed = now - started
            samples.append((elapsed, rss_bytes(daemon.pid)))
            print(f"{elapsed:6.0f} {samples[-1][1] / 2**20:8.1f} {sender.sent + udp_sent:12d} "
                  f"{sender.hostile:8d}", flush=True)
            if indices_after_warmup is None and elapsed >= args.warmup:
                indices_after_warmup = event_indices(args.es, prefix)
            next_sample += args.sample
        time.sleep(0.05)
    sender.running = False
    sender.join(timeout=60)
    sent = sender.sent + udp_sent
    drain_deadline = time.monotonic() + 180
    indexed = normal_indexed(args.es, prefix)
    while indexed < sent and time.monotonic() < drain_deadline:
        time.sleep(3)
        indexed = normal_indexed(args.es, prefix)
    idle_alive = sum(1 for sock in held if _open(sock))
    indices_end = event_indices(args.es, prefix)
    daemon.send_signal(signal.SIGTERM)
    code = daemon.wait(timeout=120)
    for sock in held:
        sock.close()
    warm = [s for s in samples if s[0] >= args.warmup] or samples
    first = [s[1] for s in warm if s[0] < warm[0][0] + args.window]
    last = [s[1] for s in samples if s[0] > samples[-1][0] - args.window]
    result = {
        "minutes": round(samples[-1][0] / 60, 1), "normal_sent": sent, "normal_indexed": indexed,
        "normal_lost": sent - indexed, "hostile_sent": sender.hostile, "udp_bursts": bursts,
        "idle_connections_opened": args.idle, "idle_connections_still_open_at_end": idle_alive,
        "rss_median_first_window_mb": round(statistics.median(first) / 2**20, 1),
        "rss_median_last_window_mb": round(statistics.median(last) / 2**20, 1),
        "rss_end_over_start": round(statistics.median(last) / statistics.median(first), 3),
        "rss_peak_mb": round(max(s[1] for s in samples) / 2**20, 1),
        "event_indices_after_warmup": indices_after_warmup, "event_indices_end": indices_end,
        "exit_code": code, "log": str(work / "monitor.log"),
    }
    print(json.dumps(result, indent=2))
    if not args.keep:
        for path in (f"/{prefix}-*?expand_wildcards=all", f"/_index_template/{prefix}-*"):
            urllib.request.urlopen(urllib.request.Request(args.es + path, method="DELETE"),
                                   timeout=120).read()
    return 0


def _open(sock: socket.socket) -> bool:
    """Still open from the server's side (no EOF waiting to be read)."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
