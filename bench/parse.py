#!/usr/bin/env python3
"""Parse + normalize throughput on one core vs a raw line-read loop over the same file.

Generates Log Exporter traffic with the simulator (deterministic), writes it to a temp file,
then times, in alternating rounds: (a) reading the file line by line (baseline), (b) reading
and ``normalize_checkpoint`` on every line (the whole pure stage: envelope, tokenizer, ECS
mapping, stable id, event.original kept) with the compiled fast path when installed, (c) the
same with the pure-Python reference normalizer only. Also times (b) and (c) up to the bytes the
bulk writer sends (the reference's dict still has to be serialized; the fast path's document
already is). Prints lines/s and the ratios. Single process, so the numbers are per core. Not a
test: never fails on a timing.

    python bench/parse.py [--lines 100000] [--rounds 3] [--profile] [--workers N]

``--workers N`` also times the same file normalized by N worker processes (chunks of lines
out, documents pickled back to the parent, as a multi-process ingest would need), wall clock.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.model import Document, RawRecord
from monitor.normalize import native, normalize_checkpoint
from monitor.normalize.checkpoint_kv import parse_cp_body
from monitor.simulate import SimConfig, generate
from monitor.simulate.checkpoint import BruteForce, OutOfBandChange, PortScan
from monitor.store.writer import source_json


def raw_loop(path: str) -> int:
    count = 0
    with open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                count += 1
    return count


def parse_loop(path: str, serialize: bool = False) -> int:
    """Parse + normalize each line; with ``serialize``, also the JSON body the bulk writer sends."""
    now = datetime.now(UTC)
    count = 0
    with open(path, "rb") as handle:
        for line in handle:
            line = line.rstrip(b"\r\n")
            if line:
                result = normalize_checkpoint(RawRecord("checkpoint:file", line, now))
                if serialize and type(result) is Document:
                    source_json(result.source)
                count += 1
    return count


def serialize_loop(path: str) -> int:
    return parse_loop(path, serialize=True)


def _cpu_rate(loop, path: str, rounds: int) -> float:
    rates = []
    for _ in range(rounds):
        started = time.process_time()
        done = loop(path)
        rates.append(done / (time.process_time() - started))
    return statistics.median(rates)


def _normalize_chunk(lines: list[bytes]) -> list[object]:
    now = datetime.now(UTC)
    return [normalize_checkpoint(RawRecord("checkpoint:file", line, now)) for line in lines]


def _chunks(path: str, size: int = 2000):
    chunk: list[bytes] = []
    with open(path, "rb") as handle:
        for line in handle:
            line = line.rstrip(b"\r\n")
            if line:
                chunk.append(line)
                if len(chunk) == size:
                    yield chunk
                    chunk = []
    if chunk:
        yield chunk


def parallel_loop(path: str, pool) -> int:
    return sum(len(docs) for docs in pool.imap(_normalize_chunk, _chunks(path)))


def tokenize_loop(path: str) -> int:
    """Only the ``key:"value"`` tokenizer (``parse_cp_body``): a floor for the design."""
    count = 0
    with open(path, "rb") as handle:
        for line in handle:
            text = line.decode("utf-8", "replace")
            start = text.find("[")
            parse_cp_body(text[start + 1:text.rfind("]")])
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile one parse round")
    parser.add_argument("--workers", type=int, default=0,
                        help="also time N worker processes (wall clock)")
    args = parser.parse_args()
    fd, path = tempfile.mkstemp(suffix=".log")
    with os.fdopen(fd, "w") as out:
        for _, line in generate(SimConfig(count=args.lines, seed=42, scenarios=(
                PortScan(), BruteForce(), OutOfBandChange()))):
            out.write(line + "\n")
    size = os.path.getsize(path)
    try:
        raw_rates, parse_rates, raw_cpu, parse_cpu = [], [], [], []
        for _ in range(args.rounds):
            started, cpu = time.perf_counter(), time.process_time()
            lines = raw_loop(path)
            raw_rates.append(lines / (time.perf_counter() - started))
            raw_cpu.append(lines / (time.process_time() - cpu))
            started, cpu = time.perf_counter(), time.process_time()
            parsed = parse_loop(path)
            parse_rates.append(parsed / (time.perf_counter() - started))
            parse_cpu.append(parsed / (time.process_time() - cpu))
        started = time.process_time()
        tokenized = tokenize_loop(path)
        tokenizer_cpu = tokenized / (time.process_time() - started)
        raw, parse = statistics.median(raw_rates), statistics.median(parse_rates)
        cpu_raw, cpu_parse = statistics.median(raw_cpu), statistics.median(parse_cpu)
        print(f"file: {lines:,} lines, {size / 1e6:.1f} MB, {size / lines:.0f} bytes/line")
        print(f"raw line read:      {raw:>12,.0f} lines/s")
        print(f"parse + normalize:  {parse:>12,.0f} lines/s/core  "
              f"(rounds: {', '.join(f'{r:,.0f}' for r in parse_rates)})")
        print(f"ratio parse/raw:    {parse / raw:.4f}   target >= 100,000 lines/s/core: "
              f"{'met' if parse >= 100_000 else 'NOT met'}")
        print(f"per CPU-second (process_time, less sensitive to other load): raw "
              f"{cpu_raw:,.0f}, parse {cpu_parse:,.0f} lines/s, ratio {cpu_parse / cpu_raw:.4f}")
        print(f"tokenizer only (parse_cp_body), per CPU-second: {tokenizer_cpu:,.0f} lines/s")
        print(f"normalizer: {native.describe()}")
        if native.active is not None:
            import monitor_native
            sample = [line.decode() for line in Path(path).read_bytes().splitlines()[:2000]]
            core = sum(monitor_native._time_core(line, 20) for line in sample) / (20 * len(sample))
            print(f"compiled core alone (tokenize, map, id, JSON; no Python objects): "
                  f"{core * 1e6:.2f} µs/line")
        with native.enabled(False):
            reference = _cpu_rate(parse_loop, path, args.rounds)
            reference_bytes = _cpu_rate(serialize_loop, path, args.rounds)
        fast_bytes = _cpu_rate(serialize_loop, path, args.rounds)
        print(f"reference normalizer only, per CPU-second: {reference:,.0f} lines/s "
              f"(in use / reference: {cpu_parse / reference:.2f}x)")
        print(f"up to the bulk body (normalize + JSON), per CPU-second: in use {fast_bytes:,.0f}, "
              f"reference {reference_bytes:,.0f} lines/s ({fast_bytes / reference_bytes:.2f}x)")
        if args.workers:
            import multiprocessing
            with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
                pool.map(_normalize_chunk, [[b""]] * args.workers)  # workers up and imported
                rates = []
                for _ in range(args.rounds):
                    started = time.perf_counter()
                    done = parallel_loop(path, pool)
                    rates.append(done / (time.perf_counter() - started))
            print(f"{args.workers} worker processes, wall clock: "
                  f"{statistics.median(rates):,.0f} lines/s "
                  f"(rounds: {', '.join(f'{r:,.0f}' for r in rates)}; 1 process wall: {parse:,.0f})")
        print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        if args.profile:
            import cProfile
            import pstats
            cProfile.runctx("parse_loop(path)", globals(), {"path": path}, "/tmp/parse.prof")
            pstats.Stats("/tmp/parse.prof").sort_stats("tottime").print_stats(15)
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()
