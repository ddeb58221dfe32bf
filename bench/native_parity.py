#!/usr/bin/env python3
"""Differential soak of the compiled fast path: many randomly mutated simulator lines, each
normalized with the fast path and with the reference; every line the fast path takes must give
the same id and document. Larger than the test suite's hypothesis runs; run by hand after
changing ``native/`` or the Python mapping. Exits 1 on the first mismatches (printed).

    python bench/native_parity.py [--lines 60000] [--seed 2]
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.model import EncodedSource, RawRecord
from monitor.normalize import native, normalize_checkpoint
from monitor.simulate import SimConfig, generate
from monitor.simulate.checkpoint import BruteForce, OutOfBandChange, PortScan

#: structural characters, control bytes, non-ASCII and line separators: what breaks parsers
ALPHABET = '"\\;:[] \t\x00\x1f\x7fé中\u2028\ufeff<>0123456789abcAZ@.-_%,='


def mutate(line: str, rng: random.Random) -> str:
    chars = list(line)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(chars))
        roll = rng.random()
        if roll < 0.4:
            chars[at] = rng.choice(ALPHABET)
        elif roll < 0.7:
            chars.insert(at, rng.choice(ALPHABET))
        elif len(chars) > 1:
            del chars[at]
    return "".join(chars)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=2)
    args = parser.parse_args()
    if native.active is None:
        print(f"the fast path is not in use: {native.describe()}")
        return 1
    base = [line for _, line in generate(SimConfig(count=2000, seed=args.seed, scenarios=(
        PortScan(), BruteForce(), OutOfBandChange())))]
    rng = random.Random(args.seed)
    now = datetime.now(UTC)
    taken = mismatches = 0
    started = time.monotonic()
    for _ in range(args.lines):
        record = RawRecord("parity", mutate(rng.choice(base), rng).encode(), now)
        fast = normalize_checkpoint(record)
        if type(getattr(fast, "source", None)) is not EncodedSource:
            continue
        taken += 1
        with native.enabled(False):
            reference = normalize_checkpoint(record)
        if fast.id != reference.id or fast.source.decoded() != reference.source:
            mismatches += 1
            if mismatches <= 5:
                print(f"MISMATCH: {record.payload[:300]!r}")
    print(f"{args.lines:,} mutated lines, {taken:,} taken by the fast path, "
          f"{mismatches} mismatches, {time.monotonic() - started:.0f} s")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
