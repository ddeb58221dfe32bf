"""The job table: id, trigger, callable, role. Nothing more.

Every job is an ``async`` callable injected by the composition root (``app.py``) that returns a
``RunReport`` (or ``None``). The table wraps each one so that:

* a job never overlaps itself (``max_instances=1``) and missed runs collapse into one
  (``coalesce``); a run that could not start on time is logged and counted as *missed*;
* an exception is caught, logged with the job id and counted as *failed*; the other jobs and
  the process go on (one failing source never stops the others);
* every run logs exactly one structured line: job, outcome, duration and the report's counts;
* ``active_only`` jobs (pull sources, rules, compliance, reports) run only while this instance
  holds the HA lease, and are cancelled if it loses the lease mid-run; the others run everywhere;
* source and rule metrics are updated from the report, so a job cannot forget them.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from ..metrics.collectors import Positions
from ..metrics.definitions import Metrics
from .memory import release_memory

__all__ = ["JobSpec", "JobTable", "RuleRun", "RunReport", "cron", "interval"]

log = logging.getLogger("monitor.jobs")

#: kinds whose runs build large transient structures (findings, evidence, report data)
_HEAVY_KINDS = frozenset({"rules", "compliance", "report"})


@dataclass(frozen=True, slots=True)
class RuleRun:
    """One rule's evaluation inside a rules job."""

    rule_id: str
    outcome: str  # success | error
    duration_seconds: float = 0.0
    matches: dict[str, int] = field(default_factory=dict)  # severity -> findings
    window_end: datetime | None = None


@dataclass(frozen=True, slots=True)
class RunReport:
    """What one run did. Counts are informational (log line); ingest counters come from the
    bulk writer's hook so they are never counted twice."""

    counts: dict[str, int] = field(default_factory=dict)
    #: a source's cursor or newest event time: exported as lag at scrape time
    position: datetime | None = None
    spool_bytes: int | None = None
    rules: tuple[RuleRun, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)


JobFunc = Callable[[], Awaitable["RunReport | None"]]


def interval(seconds: float) -> BaseTrigger:
    return IntervalTrigger(seconds=seconds, timezone=UTC)


def cron(expression: str) -> BaseTrigger:
    return CronTrigger.from_crontab(expression, timezone=UTC)


@dataclass(frozen=True, slots=True)
class JobSpec:
    id: str
    func: JobFunc
    trigger: BaseTrigger
    kind: str  # source | rules | compliance | report | retention | stats
    active_only: bool = True
    source: str | None = None
    #: first run right away instead of one interval after start
    run_at_start: bool = True


class JobTable:
    """Owns the AsyncIOScheduler. Build, ``start()``, ``replace()`` on reload, ``stop()``."""

    def __init__(self, metrics: Metrics, positions: Positions, *,
                 is_active: Callable[[], bool] = lambda: True,
                 misfire_grace_seconds: float = 30.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._metrics = metrics
        self._positions = positions
        self._is_active = is_active
        self._clock = clock
        self._grace = misfire_grace_seconds
        self._specs: dict[str, JobSpec] = {}
        #: last run outcome per pull source (for /readyz)
        self.source_health: dict[str, dict[str, Any]] = {}
        self._running: dict[asyncio.Task[Any], JobSpec] = {}
        self._stopping = False
        self.scheduler = AsyncIOScheduler(timezone=UTC, job_defaults={
            "max_instances": 1, "coalesce": True, "misfire_grace_time": int(self._grace)})
        self.scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)

    # -- table ------------------------------------------------------------------------------

    @property
    def specs(self) -> dict[str, JobSpec]:
        return dict(self._specs)

    def add(self, spec: JobSpec) -> None:
        if spec.id in self._specs:
            raise ValueError(f"job id {spec.id!r} used twice")
        self._specs[spec.id] = spec
        self._metrics.add_job(spec.id)
        if spec.source:
            self._positions.track_source(spec.source)
        kwargs: dict[str, Any] = {}
        if spec.run_at_start:
            kwargs["next_run_time"] = datetime.now(UTC)
        self.scheduler.add_job(self._run, trigger=spec.trigger, args=[spec.id], id=spec.id,
                               name=spec.id, replace_existing=True, **kwargs)

    def remove(self, job_id: str) -> None:
        self._specs.pop(job_id, None)
        if self.scheduler.get_job(job_id) is not None:
            self.scheduler.remove_job(job_id)

    def replace(self, specs: list[JobSpec]) -> dict[str, list[str]]:
        """Make the table equal to ``specs`` (reload): remove, add and re-schedule jobs."""
        wanted = {spec.id: spec for spec in specs}
        changes: dict[str, list[str]] = {"removed": [], "added": [], "updated": []}
        for job_id in list(self._specs):
            if job_id not in wanted:
                self.remove(job_id)
                changes["removed"].append(job_id)
        for job_id, spec in wanted.items():
            if job_id in self._specs:
                self._specs[job_id] = spec
                self.scheduler.reschedule_job(job_id, trigger=spec.trigger)
                changes["updated"].append(job_id)
            else:
                self.add(spec)
                changes["added"].append(job_id)
        return changes

    def start(self) -> None:
        self.scheduler.start()

    async def stop(self, timeout: float) -> int:
        """Stop scheduling, let running jobs finish for up to ``timeout`` s, cancel the rest.

        Returns how many runs had to be cancelled."""
        self._stopping = True
        if self.scheduler.running:
            # pause, not shutdown: APScheduler's executor shutdown cancels running tasks
            self.scheduler.pause()
        cancelled = await self._drain(timeout)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        return cancelled

    async def _drain(self, timeout: float, only: Callable[[JobSpec], bool] = lambda s: True) -> int:
        tasks = [t for t, spec in self._running.items() if only(spec) and not t.done()]
        if not tasks:
            return 0
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        names = ",".join(sorted(self._running[t].id for t in pending if t in self._running))
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=2)
            log.warning("cancelled job runs that outlived the shutdown bound",
                        extra={"fields": {"cancelled": len(pending), "jobs": names}})
        return len(pending)

    def running_tasks(self) -> list[asyncio.Task[Any]]:
        return [task for task in self._running if not task.done()]

    def cancel_active_only(self) -> int:
        """Lost the lease: stop every active-only run now (its work will be redone by the new
        active instance from the cursors and windows in Elasticsearch)."""
        count = 0
        for task, spec in list(self._running.items()):
            if spec.active_only and not task.done():
                task.cancel()
                count += 1
        return count

    async def run_now(self, job_id: str) -> str:
        """Run one job immediately (tests, ``reload``); returns the outcome."""
        return await self._run(job_id)

    # -- running ----------------------------------------------------------------------------

    def _on_missed(self, event: JobEvent) -> None:
        job_id = event.job_id
        if job_id not in self._specs:
            return
        self._metrics.jobs_missed.labels(job_id=job_id).inc()
        why = "previous run still going" if event.code == EVENT_JOB_MAX_INSTANCES else \
            "missed its start time"
        log.warning("job run missed", extra={"fields": {"job": job_id, "outcome": "missed",
                                                        "reason": why}})

    async def _run(self, job_id: str) -> str:
        spec = self._specs.get(job_id)
        if spec is None or self._stopping:
            return "skipped"
        metrics = self._metrics
        if spec.active_only and not self._is_active():
            metrics.job_runs.labels(job_id=job_id, outcome="skipped").inc()
            log.debug("job skipped on standby", extra={"fields": {"job": job_id,
                                                                  "outcome": "skipped"}})
            return "skipped"
        task = asyncio.current_task()
        assert task is not None
        self._running[task] = spec
        started = time.perf_counter()
        outcome, report, error = "success", None, None
        try:
            report = await spec.func()
        except asyncio.CancelledError:
            outcome, error = "error", "cancelled (shutdown or lease lost)"
        except Exception as exc:  # noqa: BLE001 - a job failure must not stop the daemon
            outcome, error = "error", f"{type(exc).__name__}: {exc}"
        finally:
            self._running.pop(task, None)
        duration = time.perf_counter() - started
        if spec.kind in _HEAVY_KINDS:
            release_memory()  # a big evaluation must not leave RSS at its high-water mark
        metrics.job_runs.labels(job_id=job_id, outcome=outcome).inc()
        metrics.job_duration.labels(job_id=job_id).observe(duration)
        now = self._clock()
        if outcome == "success":
            metrics.job_last_success.labels(job_id=job_id).set(now)
        else:
            metrics.jobs_failed.labels(job_id=job_id).inc()
        self._record_source(spec, report, outcome, now)
        self._record_rules(report, now)
        fields: dict[str, Any] = {"job": job_id, "kind": spec.kind, "outcome": outcome,
                                  "duration_s": round(duration, 4)}
        if spec.source:
            fields["source"] = spec.source
        if report is not None:
            fields.update({k: v for k, v in report.counts.items()})
            fields.update({k: v for k, v in report.detail.items()
                           if isinstance(v, (str, int, float, bool))})
        if error is not None:
            fields["error"] = error[:2000]
            log.error("job run", extra={"fields": fields})
        else:
            log.info("job run", extra={"fields": fields})
        return outcome

    def _record_source(self, spec: JobSpec, report: RunReport | None, outcome: str,
                       now: float) -> None:
        if not spec.source:
            return
        metrics, name = self._metrics, spec.source
        self.source_health[name] = {"healthy": outcome == "success", "at": now}
        if outcome == "success":
            metrics.source_last_success.labels(source=name).set(now)
            metrics.source_up.labels(source=name).set(1)
        else:
            metrics.source_errors.labels(source=name).inc()
            metrics.source_up.labels(source=name).set(0)
        if report is not None:
            if report.position is not None:
                self._positions.set_source(name, report.position)
            if report.spool_bytes is not None:
                metrics.source_spool_bytes.labels(source=name).set(report.spool_bytes)

    def _record_rules(self, report: RunReport | None, now: float) -> None:
        if report is None:
            return
        metrics = self._metrics
        for run in report.rules:
            metrics.add_rule(run.rule_id)
            metrics.rule_runs.labels(rule=run.rule_id, outcome=run.outcome).inc()
            metrics.rule_duration.labels(rule=run.rule_id).observe(run.duration_seconds)
            for severity, count in run.matches.items():
                if count:
                    metrics.rule_matches.labels(rule=run.rule_id, severity=severity).inc(count)
            if run.outcome == "success":
                metrics.rule_last_success.labels(rule=run.rule_id).set(now)
            if run.window_end is not None:
                self._positions.set_rule(run.rule_id, run.window_end)
