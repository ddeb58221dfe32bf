#!/usr/bin/env python3
"""A monthly report over N firewall events (default 5,000,000): render time vs Elasticsearch time.

Generates one month (October 2026) of firewall-shaped ECS documents from 20 gateways (one of
them silent for 6 hours), audit change events, Git changes, findings, dead letters and hourly
control results for 30 controls, writes them with the store's BulkWriter into a throw-away
prefix, then renders the monthly report (HTML + JSON) and prints where the time went.
The prefix is deleted afterwards (``--keep`` to keep it and re-run with ``--reuse``).

    python bench/report.py [--url http://127.0.0.1:9200] [--events 5000000] [--keep] [--reuse]

Benchmarks are not tests: nothing here fails on a timing; compare the numbers it prints.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.model import Document
from monitor.reports.gather import gather_report
from monitor.reports.inputs import (
    ReportInputs,
    load_catalogue,
)
from monitor.reports.period import iso, period_for
from monitor.reports.publish import write_report_files
from monitor.settings import ElasticsearchSettings
from monitor.store import BulkWriter, open_store
from monitor.store.search import SearchStats, drop_prefix
from monitor.store.setup import install_templates

NOW = datetime(2026, 11, 1, 0, 30, tzinfo=UTC)
PERIOD = period_for("monthly", NOW)
GATEWAYS = [f"gw-{i:02d}" for i in range(20)]
SILENT = ("gw-07", PERIOD.start + timedelta(days=12, hours=3), timedelta(hours=6))
CONTROLS = [f"CHK-{i:02d}" for i in range(1, 31)]


def _ts(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def events(n: int) -> Iterator[Document]:
    span = PERIOD.seconds
    step = span / n
    silent_gw, silent_from, silent_for = SILENT
    for i in range(n):
        moment = PERIOD.start + timedelta(seconds=i * step)
        gateway = GATEWAYS[i % len(GATEWAYS)]
        if gateway == silent_gw and silent_from <= moment < silent_from + silent_for:
            gateway = GATEWAYS[(i + 1) % len(GATEWAYS)]
        yield Document("events", f"e{i:010d}", {
            "@timestamp": _ts(moment),
            "event": {"kind": "event", "dataset": "checkpoint.firewall",
                      "action": "Accept" if i % 3 else "Drop"},
            "observer": {"name": gateway, "vendor": "Checkpoint", "type": "firewall"},
            "source": {"ip": f"10.{i % 200}.{(i // 200) % 250}.{i % 251}", "port": 1024 + i % 60000},
            "destination": {"ip": f"172.16.{i % 50}.{i % 199}", "port": (22, 443, 80, 3389)[i % 4]},
            "network": {"transport": "tcp"},
            "rule": {"name": f"rule-{i % 300}"},
        })


def others() -> Iterator[Document]:
    start = PERIOD.start
    for i in range(1000):
        moment = start + timedelta(minutes=43 * i)
        sha = f"{i:040x}"
        yield Document("events", f"audit{i}", {
            "@timestamp": _ts(moment),
            "event": {"kind": "event", "dataset": "checkpoint.audit"},
            "observer": {"name": "mgmt-1"},
            "checkpoint": {"operation": ("Publish", "Install Policy", "Modify Rule")[i % 3],
                           "administrator": "pipeline" if i % 10 else "alice",
                           "session_name": f"gitops/fw-policy {sha[:12]}" if i % 10 else "manual",
                           "session_description": f"CHG{i:07d}"}})
        yield Document("changes", f"chg{i}", {
            "@timestamp": _ts(moment - timedelta(minutes=5)),
            "change": {"repo": f"repo-{i % 5}", "sha": sha, "tickets": [f"CHG{i:07d}"],
                       "subject": f"change {i}", "approvers": ["bob"],
                       "independent_approval": True, "checks_passed": True}})
    for i in range(10_000):
        moment = start + timedelta(seconds=267 * i)
        yield Document("findings", f"f{i}", {
            "@timestamp": _ts(moment),
            "finding": {"id": f"f{i}", "status": "open", "count": i % 40 + 1},
            "rule": {"id": f"R-{i % 25}", "name": f"Rule {i % 25}",
                     "severity": ("low", "medium", "high", "critical")[i % 4], "risk_score": i % 100},
            "source": {"ip": f"203.0.113.{i % 250}"}, "destination": {"ip": f"10.0.0.{i % 200}"}})
    for i in range(500):
        yield Document("deadletter", f"d{i}", {
            "@timestamp": _ts(start + timedelta(hours=i)),
            "deadletter": {"source": "checkpoint:syslog", "stage": "parse", "reason": "bad"}})
    for hour in range(int(PERIOD.seconds // 3600)):
        w_start = start + timedelta(hours=hour)
        for j, control in enumerate(CONTROLS):
            status = "fail" if (hour + j) % 97 == 0 else "pass"
            yield Document("compliance", f"{control}-{hour}", {
                "@timestamp": _ts(w_start + timedelta(hours=1)),
                "control": {"id": control, "name": f"Control {control}", "status": status,
                            "requirements": ["1.2.2"] if j % 2 else ["10.2.1"],
                            "framework": "pci-dss-4.0.1",
                            "period": {"start": _ts(w_start), "end": _ts(w_start + timedelta(hours=1))},
                            "evaluated_at": _ts(w_start + timedelta(hours=1, minutes=1)),
                            "reason": "ok", "counts": {"evaluated": 10, "failed": int(status == "fail")},
                            "completeness": 1.0,
                            "evidence": {"query": {"match_all": {}}, "samples": [{"i": hour}]}}})


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:9200")
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--prefix", default="bench-report")
    parser.add_argument("--keep", action="store_true", help="keep the indices afterwards")
    parser.add_argument("--reuse", action="store_true", help="skip loading (kept indices)")
    args = parser.parse_args()
    store = open_store(ElasticsearchSettings(hosts=[args.url], request_timeout_seconds=120),
                       prefix=args.prefix)
    try:
        if not args.reuse:
            await drop_prefix(store)
            await install_templates(store)
            started = time.perf_counter()
            writer = BulkWriter(store)
            result = await writer.write(events(args.events))
            result.add(await writer.write(others()))
            await writer.refresh()
            await store.es.indices.forcemerge(index=f"{args.prefix}-*", max_num_segments=1,
                                              wait_for_completion=True)
            load = time.perf_counter() - started
            print(f"loaded {result.indexed:,} documents in {load:.1f}s "
                  f"({result.indexed / load:,.0f} docs/s), force-merged")
        count = (await store.es.count(index=store.names.events))["count"]
        catalogue, version, _ = load_catalogue()
        inputs = ReportInputs(catalogue=catalogue, framework_version=version,
                              daemon_version="bench", rulepack_version="bench")
        for label in ("cold", "warm"):
            stats = SearchStats()
            started = time.perf_counter()
            data = await gather_report(store, PERIOD, inputs, NOW, stats)
            gathered = time.perf_counter()
            with tempfile.TemporaryDirectory() as out:
                record = await write_report_files(data, Path(out), ["html", "json"])
            done = time.perf_counter()
            total = done - started
            es = stats.took_ms / 1000
            print(f"[{label}] monthly report {PERIOD.label} over {count:,} events "
                  f"({iso(PERIOD.start)} → {iso(PERIOD.end)}): total {total:.2f}s = "
                  f"gather {gathered - started:.2f}s (Elasticsearch took {es:.2f}s in "
                  f"{stats.round_trips} round trips / {stats.searches} searches) + render "
                  f"{done - gathered:.2f}s; ES share {es / total:.0%}; "
                  f"HTML {record.files[1].bytes if len(record.files) > 1 else 0:,} bytes; "
                  f"status {record.status}, sources with gaps: "
                  f"{sum(1 for s in data.provenance.sources if s.gaps)}")
    finally:
        if not args.keep:
            await drop_prefix(store)
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
