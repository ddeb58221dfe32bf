"""The job table: isolation of failures, no overlap, missed runs counted, standby skips."""
from __future__ import annotations

import asyncio
import logging
import time

from prometheus_client import CollectorRegistry

from monitor.daemon.jobs import JobSpec, JobTable, RuleRun, RunReport, interval
from monitor.metrics.collectors import Positions
from monitor.metrics.definitions import Metrics


def _table(active: list[bool] | None = None) -> tuple[CollectorRegistry, JobTable]:
    registry = CollectorRegistry()
    flag = active if active is not None else [True]
    table = JobTable(Metrics(registry, "t"), Positions(), is_active=lambda: flag[0])
    return registry, table


async def _until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_failing_job_is_counted_and_never_stops_the_others(caplog) -> None:
    registry, table = _table()
    good_runs: list[int] = []

    async def broken() -> RunReport:
        raise RuntimeError("management API on fire")

    async def good() -> RunReport:
        good_runs.append(1)
        return RunReport(counts={"indexed": 3})

    table.add(JobSpec("source:bad", broken, interval(0.2), kind="source", source="bad"))
    table.add(JobSpec("source:good", good, interval(0.2), kind="source", source="good"))
    with caplog.at_level(logging.INFO, logger="monitor.jobs"):
        table.start()
        try:
            await _until(lambda: len(good_runs) >= 3 and _value(
                registry, "monitor_scheduler_jobs_failed_total", job_id="source:bad") >= 3)
        finally:
            await table.stop(5)
    assert _value(registry, "monitor_source_errors_total", source="bad") >= 3
    assert _value(registry, "monitor_source_up", source="bad") == 0
    assert _value(registry, "monitor_source_up", source="good") == 1
    assert _value(registry, "monitor_scheduler_job_runs_total", job_id="source:good",
                  outcome="success") >= 3
    lines = [r for r in caplog.records if r.getMessage() == "job run"]
    failed = [r for r in lines if r.fields["job"] == "source:bad"]
    assert failed and all(r.fields["outcome"] == "error" for r in failed)
    assert "management API on fire" in failed[0].fields["error"]
    assert any(r.fields.get("indexed") == 3 for r in lines if r.fields["job"] == "source:good")


async def test_a_slow_job_never_overlaps_itself_and_missed_runs_are_counted() -> None:
    registry, table = _table()
    running = 0
    overlaps = 0
    finished = 0

    async def slow() -> None:
        nonlocal running, overlaps, finished
        running += 1
        overlaps = max(overlaps, running)
        await asyncio.sleep(1.0)
        running -= 1
        finished += 1

    table.add(JobSpec("rules", slow, interval(0.2), kind="rules"))
    table.start()
    try:
        await _until(lambda: finished >= 2 and _value(
            registry, "monitor_scheduler_jobs_missed_total", job_id="rules") >= 1)
    finally:
        await table.stop(5)
    assert overlaps == 1


async def test_active_only_jobs_skip_on_standby_and_run_when_active() -> None:
    active = [False]
    registry, table = _table(active)
    pulled: list[int] = []
    received: list[int] = []

    async def pull() -> None:
        pulled.append(1)

    async def everywhere() -> None:
        received.append(1)

    table.add(JobSpec("source:mgmt", pull, interval(0.2), kind="source"))
    table.add(JobSpec("stats", everywhere, interval(0.2), kind="stats", active_only=False))
    table.start()
    try:
        await _until(lambda: len(received) >= 3)
        assert pulled == []
        assert _value(registry, "monitor_scheduler_job_runs_total", job_id="source:mgmt",
                      outcome="skipped") >= 2
        active[0] = True
        await _until(lambda: len(pulled) >= 1)
    finally:
        await table.stop(5)


async def test_stop_is_bounded_and_cancels_what_outlives_it() -> None:
    registry, table = _table()
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def stuck() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    table.add(JobSpec("report:x", stuck, interval(60), kind="report"))
    table.start()
    await asyncio.wait_for(started.wait(), 20)
    t0 = time.monotonic()
    assert await table.stop(0.5) == 1
    assert time.monotonic() - t0 < 10
    assert cancelled.is_set()
    assert _value(registry, "monitor_scheduler_jobs_failed_total", job_id="report:x") == 1


async def test_rule_runs_update_rule_metrics_and_lag_positions() -> None:
    registry, table = _table()
    from datetime import UTC, datetime

    end = datetime(2026, 1, 1, tzinfo=UTC)

    async def rules() -> RunReport:
        return RunReport(rules=(RuleRun("r1", "success", 0.2, {"critical": 2}, end),
                                RuleRun("r2", "error", 0.1)))

    table.add(JobSpec("rules", rules, interval(3600), kind="rules"))
    assert await table.run_now("rules") == "success"
    assert _value(registry, "monitor_rule_matches_total", rule="r1", severity="critical") == 2
    assert _value(registry, "monitor_rule_runs_total", rule="r2", outcome="error") == 1
    assert _value(registry, "monitor_rule_last_success_timestamp_seconds", rule="r1") > 0
    assert _value(registry, "monitor_rule_last_success_timestamp_seconds", rule="r2") == 0
    assert table._positions.rules["r1"] == end.timestamp()
