"""``monitor parse``, ``monitor ingest checkpoint`` and ``monitor simulate checkpoint``.

* ``monitor parse FILE`` prints one ECS document (or dead letter) per line as NDJSON; no ES.
* ``monitor ingest checkpoint FILE... | -`` indexes exported logs (gzip ok) with a summary.
* ``monitor simulate checkpoint --count N | --rate R`` writes synthetic Log Exporter lines.
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    CommandGroups,
    emit,
    fail,
    guarded,
    load_or_exit,
    run_async,
)
from .progress import Progress

if TYPE_CHECKING:
    from ..sources.logfiles import IngestStats

__all__ = ["register"]


def register(groups: CommandGroups) -> None:
    parse = groups.command("parse", "print the ECS documents a Check Point log file becomes "
                                    "(NDJSON, no Elasticsearch)")
    parse.add_argument("file", help="log file (plain or gzip) or - for stdin")
    parse.add_argument("--no-original", action="store_true", help="omit event.original")
    parse.add_argument("--source", default="checkpoint:file", help="source label (id hashing)")
    parse.set_defaults(handler=guarded(_parse))

    ingest = groups.group("ingest", "import exported logs and history into Elasticsearch")
    cp = ingest.add_parser("checkpoint", help="index Check Point log files (plain, gzip, - stdin)")
    cp.add_argument("files", nargs="+", metavar="FILE")
    cp.add_argument("--json", action="store_true", help="summary as JSON")
    cp.add_argument("--no-progress", action="store_true")
    cp.add_argument("--refresh", action="store_true", help="refresh indices after the import")
    cp.set_defaults(handler=guarded(_ingest))

    simulate = groups.group("simulate", "generate synthetic traffic")
    sim = simulate.add_parser("checkpoint", help="synthetic Check Point Log Exporter lines")
    amount = sim.add_mutually_exclusive_group()
    amount.add_argument("--count", type=int, default=None, help="baseline lines (default 1000)")
    amount.add_argument("--rate", type=float, default=None,
                        help="lines per second, written in real time until --duration")
    sim.add_argument("--duration", type=float, default=60.0, help="seconds, with --rate")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--start", default=None,
                     help="ISO time of the first line (default 2026-01-01T00:00:00Z; with "
                          "--rate: now)")
    sim.add_argument("--eps", type=float, default=20.0, help="simulated events per second")
    sim.add_argument("--scenario", action="append", default=[],
                     help="name[:k=v,...]: port_scan, host_sweep, brute_force, out_of_band_change, "
                          "cleartext_into_cde, gitops_install")
    sim.add_argument("--inventory", type=Path, default=None,
                     help="place traffic and scenarios on the network this inventory describes")
    sim.add_argument("--out", default="-", help="output file (default stdout)")
    sim.set_defaults(handler=guarded(_simulate))


def _parse(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    out = sys.stdout.buffer
    try:
        total, bad = _parse_to(args, out, now)
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
        return EXIT_OK
    if bad:
        print(f"monitor: {bad} of {total} line(s) could not be parsed (see deadletter records)",
              file=sys.stderr)
    # some bad lines is a result; nothing parsed at all means the input is not what we read
    return EXIT_FAIL if total and bad == total else EXIT_OK


def _parse_to(args: argparse.Namespace, out: Any, now: datetime) -> tuple[int, int]:
    import orjson

    from ..model import DeadLetter
    from ..sources.logfiles import iter_lines, normalize_line

    total = bad = 0
    for line in iter_lines(args.file):
        if not line.strip():
            continue
        total += 1
        result = normalize_line(line, args.source, now, not args.no_original)
        record: dict[str, Any]
        if isinstance(result, DeadLetter):
            bad += 1
            record = {"deadletter": {"reason": result.reason,
                                     "raw": result.raw.decode("utf-8", "replace")}}
        else:
            record = {"_id": result.id, **result.source}
        out.write(orjson.dumps(record) + b"\n")
    out.flush()
    return total, bad


def _ingest(args: argparse.Namespace) -> int:
    from ..daemon.file_runs import ingest_files
    from ..store import BulkWriter, open_store

    settings = load_or_exit(args)
    # bytes read (compressed for gzip); small files finish before a bar helps
    progress = Progress(not args.no_progress, "import", "B", minimum=5 * 1024 * 1024, scale=True)

    async def go() -> IngestStats:
        store = open_store(settings.elasticsearch)
        try:
            await store.health()
            writer = BulkWriter(store)
            return await ingest_files(args.files, writer,
                                      keep_original=settings.elasticsearch.keep_original,
                                      progress=progress, refresh=args.refresh)
        finally:
            await store.close()

    started = time.monotonic()
    try:
        stats = run_async(go)
    finally:
        progress.close()
    summary = {**stats.as_dict(), "seconds": round(time.monotonic() - started, 3)}
    emit(summary, args.json, lambda s: (
        f"read {s['read']}, indexed {s['indexed']}, duplicates {s['duplicates']}, "
        f"dead-lettered {s['dead_lettered']} ({s['parse_dead_letters']} unparsable) "
        f"in {s['seconds']}s"))
    return EXIT_OK if stats.indexed + stats.duplicates + stats.dead_lettered == stats.read \
        else EXIT_FAIL


def _simulate(args: argparse.Namespace) -> int:
    from ..simulate import SimConfig, generate, scenario_from_spec

    realtime = args.rate is not None
    if args.start is None:
        args.start = (datetime.now(UTC).replace(microsecond=0).isoformat() if realtime
                      else "2026-01-01T00:00:00+00:00")
    try:
        start = datetime.fromisoformat(args.start.replace("Z", "+00:00"))
        scenarios = tuple(scenario_from_spec(spec) for spec in args.scenario)
    except ValueError as exc:
        return fail(str(exc), EXIT_USAGE)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    count = int(args.rate * args.duration) if realtime else (args.count or 1000)
    eps = args.rate if realtime else args.eps
    network = None
    if args.inventory is not None:
        from ..errors import RuleError
        from ..inventory import load_inventory
        from ..simulate.network import Network
        try:
            network = Network.from_inventory(load_inventory(args.inventory))
        except (RuleError, ValueError) as exc:
            return fail(str(exc), EXIT_USAGE)
    config = SimConfig(count=count, seed=args.seed, start=start, events_per_second=eps,
                       scenarios=scenarios, network=network)
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")  # noqa: SIM115 - stdout or a file, closed by the caller
    began = time.monotonic()
    try:
        for index, (_moment, line) in enumerate(generate(config)):
            out.write(line + "\n")
            if realtime and index % 100 == 0:
                ahead = index / args.rate - (time.monotonic() - began)
                if ahead > 0:
                    out.flush()
                    time.sleep(ahead)
    except BrokenPipeError:
        return EXIT_FAIL
    finally:
        if out is not sys.stdout:
            out.close()
    return EXIT_OK
