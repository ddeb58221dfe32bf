"""``monitor report``: render one compliance report now.

    monitor report --framework pci-dss-4.0.1 --period daily [--out DIR] [--format html,json,pdf]
    monitor report --from 2026-11-01T00:00:00Z --to 2026-11-15T00:00:00Z --out /tmp/r

Exit 0 with the written files listed (``--json`` for a machine-readable line) whatever the
report's status (``--fail-on fail`` opts into exit 1 for CI), 1 on an Elasticsearch or Chromium
failure, 2 on bad arguments. The score is printed in percent (``score_percent``).
"""
from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..reports.period import KINDS
from .common import (
    EXIT_USAGE,
    CommandGroups,
    add_fail_on,
    emit,
    fail,
    guarded,
    load_or_exit,
    run_async,
    verdict_exit,
)

if TYPE_CHECKING:
    from ..reports.publish import ReportRecord
    from ..store.search import SearchStats

__all__ = ["register"]


def register(groups: CommandGroups) -> None:
    parser = groups.command("report", "render a compliance report (HTML, JSON twin, PDF)")
    parser.add_argument("--framework", default="pci-dss-4.0.1", choices=["pci-dss-4.0.1"])
    parser.add_argument("--period", choices=KINDS,
                        help="last complete daily/weekly/monthly/quarterly period before now")
    parser.add_argument("--from", dest="start", metavar="TIME",
                        help="custom period start (ISO 8601, UTC if no offset)")
    parser.add_argument("--to", dest="end", metavar="TIME", help="custom period end (exclusive)")
    parser.add_argument("--out", type=Path, help="output folder (default: reports.dir)")
    parser.add_argument("--format", default=None,
                        help="comma-separated: html,json,pdf (default: reports.formats)")
    add_fail_on(parser)
    parser.add_argument("--now", help=argparse.SUPPRESS)  # fixed clock for tests
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=guarded(_run))


def _run(args: argparse.Namespace) -> int:
    from ..reports.inputs import parse_time
    from ..reports.period import custom_period, iso
    from ..settings import ReportKind

    settings = load_or_exit(args)
    if bool(args.start) != bool(args.end):
        return fail("give both --from and --to", EXIT_USAGE)
    if args.period and args.start:
        return fail("give either --period or --from/--to, not both", EXIT_USAGE)
    now = parse_time(args.now) if args.now else datetime.now(UTC)
    if now is None:
        return fail(f"--now: not a time: {args.now!r}", EXIT_USAGE)
    period = None
    if args.start:
        start, end = parse_time(args.start), parse_time(args.end)
        if start is None or end is None:
            return fail("--from/--to must be ISO 8601 times, e.g. 2026-11-01T00:00:00Z", EXIT_USAGE)
        try:
            period = custom_period(start, end)
        except ValueError as exc:
            return fail(str(exc), EXIT_USAGE)
    formats = None
    if args.format:
        formats = [f.strip() for f in args.format.split(",") if f.strip()]
        bad = [f for f in formats if f not in ("html", "json", "pdf")]
        if bad or not formats:
            return fail(f"--format: unknown format(s) {bad}: use html,json,pdf", EXIT_USAGE)
    kind = ReportKind(framework=args.framework, period=args.period or "daily")

    async def go() -> tuple[ReportRecord, SearchStats, float]:
        from ..reports.job import render_report
        from ..store import open_store
        from ..store.search import SearchStats

        store = open_store(settings.elasticsearch)
        stats = SearchStats()
        started = time.perf_counter()
        try:
            record = await render_report(settings, store, kind, now, period=period,
                                         out_dir=args.out, formats=formats, stats=stats)
        finally:
            await store.close()
        return record, stats, time.perf_counter() - started

    record, stats, elapsed = run_async(go)
    result = {
        "framework": record.framework, "period": record.period, "label": record.label,
        "start": iso(record.start), "end": iso(record.end), "status": record.status,
        "score_percent": record.score, "sha256": record.sha256,
        "files": {f.format: str(f.path) for f in record.files},
        "seconds": round(elapsed, 3), "elasticsearch_ms": stats.took_ms,
    }

    def text(data: dict[str, Any]) -> str:
        score = "n/a" if data["score_percent"] is None else f"{data['score_percent']}%"
        head = (f"{data['label']}: {data['status']} (score {score}) in {data['seconds']}s "
                f"({data['elasticsearch_ms']} ms in Elasticsearch)")
        lines = [head]
        lines += [f"  {fmt}: {path}" for fmt, path in data["files"].items()]
        return "\n".join(lines)

    emit(result, args.json, text)
    return verdict_exit(args, {record.status})
