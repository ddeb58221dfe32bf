"""Glue between the daemon and the packages it schedules (sources, rules, compliance, reports).

Each ``_wire_*`` function looks at the settings, imports its package lazily and turns its public
entry point into ``JobSpec``s (pull work: active instance only) or ``Service``s (receivers:
every instance). Imports are lazy so a daemon with only a receiver configured never loads the
rule engine or the git code; a feature that is off wires nothing.

Invalid rules, controls or exceptions raise (``RuleError``), so that a reload keeps the running
set and says why.
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .components import Components, Context
from .fastlane import apply_fast_lane, read_until
from .jobs import JobSpec, RuleRun, RunReport, cron, interval
from .wire_alerting import report_delivery, wire_alerting

if TYPE_CHECKING:  # pragma: no cover
    from ..sources.checkpoint_api import CheckpointApiLogs
    from ..store import BulkWriter, StateStore

__all__ = ["WIRES", "build_components"]

log = logging.getLogger("monitor.daemon.adapters")

Wire = Callable[[Context, Components], None]


def build_components(ctx: Context) -> Components:
    components = Components()
    for wire in WIRES:
        wire(ctx, components)
    return components


# -- Check Point ---------------------------------------------------------------------------

def _wire_checkpoint_api(ctx: Context, components: Components) -> None:
    sources = ctx.settings.sources.checkpoint_api
    if not sources:
        return
    from ..sources.checkpoint_api import checkpoint_api_sources
    for cfg in sources:
        # one pull source per log type, sharing one API session that lives as long as this
        # wiring (R81+ allows 3 logins per admin per minute); logged out on stop or reload
        logs = checkpoint_api_sources(
            cfg, keep_original=ctx.settings.elasticsearch.keep_original)

        async def pull(cfg=cfg, logs=logs) -> RunReport:
            counts, ends = await _ingest_windows(logs, ctx.writer_for(cfg.name), ctx.state)
            return RunReport(counts=counts, position=min(ends) if ends else None)

        async def close(logs=logs) -> None:
            for source in logs:
                await source.close()

        components.sources[cfg.name] = 0
        components.jobs.append(JobSpec(f"source:{cfg.name}", pull,
                                       interval(cfg.schedule.interval_seconds), kind="source",
                                       source=cfg.name))
        components.closers.append(close)


async def _ingest_windows(sources: Sequence[CheckpointApiLogs], writer: BulkWriter,
                          state: StateStore) -> tuple[dict[str, int], list[datetime]]:
    """Every log type's window read to its end, a page per ``ingest_once`` (each page's cursor
    committed after its write, compare-and-set); the run's counts and the windows' ends."""
    from ..ingest import ingest_pages
    counts: Counter[str] = Counter()
    ends: list[datetime] = []
    for source in sources:
        # no page bound: the source closes a window after at most _MAX_PAGES pages, and a
        # window left open may find its query-id expired by the next run, and be re-read whole
        for report in await ingest_pages(source, writer, state):
            counts.update(report.as_counts())
        if source.window is not None:
            try:
                ends.append(datetime.fromisoformat(source.window[1]))
            except ValueError:
                pass
    return {key: counts[key] for key in ("logs", "pages", "indexed", "duplicates",
                                         "dead_lettered", "requests", "logins", "retries")}, ends


def _wire_snapshots(ctx: Context, components: Components) -> None:
    wanted = [cfg for cfg in ctx.settings.sources.checkpoint_api if cfg.snapshots]
    if not wanted:
        return
    from ..ingest import ingest_once
    from ..sources.checkpoint_snapshots import CheckpointSnapshots
    for cfg in wanted:
        async def snap(cfg=cfg) -> RunReport:
            report = await ingest_once(CheckpointSnapshots(cfg), ctx.writer)
            return RunReport(counts=report.as_counts())

        components.jobs.append(JobSpec(f"snapshot:{cfg.name}", snap,
                                       interval(cfg.snapshot_schedule.interval_seconds),
                                       kind="source"))


def _wire_files(ctx: Context, components: Components) -> None:
    files = ctx.settings.sources.files
    if not files.paths:
        return
    from .file_runs import scan_once
    name = "files"
    keep = ctx.settings.elasticsearch.keep_original
    cfg = files  # paths are resolved against the settings file's folder at load

    async def pull() -> RunReport:
        stats = await scan_once(cfg, ctx.writer_for(name), ctx.state, keep_original=keep)
        return RunReport(counts=stats.as_dict())

    components.sources[name] = 0
    components.jobs.append(JobSpec(f"source:{name}", pull, interval(files.schedule.interval_seconds),
                                   kind="source", source=name))


class _ReceiverService:
    """``SyslogReceiver`` (start/stop) as a daemon ``Service`` (run until stopped)."""

    name = "syslog"

    def __init__(self, receiver: Any, capacity: int, stop_timeout: float) -> None:
        self._receiver = receiver
        self._capacity = capacity
        self._stop_timeout = stop_timeout
        self._stopped: asyncio.Event | None = None
        self._listening = False

    async def run(self) -> None:
        self._stopped = asyncio.Event()
        await self._receiver.start()
        self._listening = True
        try:
            await self._stopped.wait()
        finally:
            self._listening = False

    async def stop(self) -> None:
        try:
            # stop listening, flush the queue (what does not fit in time is spooled), fsync
            await self._receiver.stop(timeout=self._stop_timeout)
        finally:
            self._listening = False
            if self._stopped is not None:
                self._stopped.set()

    def horizon(self) -> float | None:
        return self._receiver.horizon()  # type: ignore[no-any-return]  # the receiver module is not typed strict yet

    def status(self) -> dict[str, Any]:
        counters = self._receiver.counters
        return {"healthy": self._listening, "spool_bytes": counters.spool_bytes,
                "spool_capacity_bytes": self._capacity,
                "addresses": {k: list(v) for k, v in getattr(self._receiver, "addresses",
                                                             {}).items()},
                "last_event_unixtime": counters.last_event_unixtime,
                **{key: getattr(counters, key) for key in (
                    "received", "spooled", "replayed", "rejected_senders", "oversized",
                    "dropped_spool_full", "refused_connections", "idle_closed",
                    "tls_handshake_failed", "time_out_of_window")}}


def _wire_syslog(ctx: Context, components: Components) -> None:
    syslog = ctx.settings.sources.syslog
    if not syslog.enabled:
        return
    running = [s for s in (ctx.previous.services if ctx.previous else []) if s.name == "syslog"]
    if running:  # reload: the listening receiver (and its spool) stays; restart to change it
        components.services.append(running[0])
        if isinstance(running[0], _ReceiverService):
            components.horizons.append(running[0].horizon)
        components.sources["syslog"] = int(syslog.spool.max_bytes)
        return
    from ..sources.syslog import SyslogReceiver
    cfg = syslog
    receiver = SyslogReceiver(cfg, ctx.writer_for("syslog"), store=ctx.store,
                              keep_original=ctx.settings.elasticsearch.keep_original)
    service = _ReceiverService(receiver, int(syslog.spool.max_bytes),
                               stop_timeout=ctx.settings.daemon.shutdown_timeout_seconds / 2)
    components.services.append(service)
    components.horizons.append(service.horizon)
    components.sources["syslog"] = int(syslog.spool.max_bytes)


# -- Git and forges --------------------------------------------------------------------------

def _wire_git(ctx: Context, components: Components) -> None:
    repos = ctx.settings.sources.git
    if not repos:
        return
    from ..sources.git import GitRepository
    from .forge_runs import ingest_changes
    for cfg in repos:
        # kept as long as this wiring: a first import's git walk serves its next page, also
        # in the next run; closed (its git stopped) when the daemon stops or reloads
        source = GitRepository(cfg, cfg.mirror_dir)

        async def pull(cfg=cfg, source=source) -> RunReport:
            stats = await ingest_changes([source], "git", cfg.name, ctx.writer_for(cfg.name),
                                         ctx.state)
            return RunReport(counts={"commits": stats.commits, "tags": stats.tags,
                                     "indexed": stats.indexed, "rewrites": stats.rewrites})

        components.closers.append(source.close)
        components.sources[cfg.name] = 0
        components.quiet_sources.add(cfg.name)
        components.jobs.append(JobSpec(f"source:{cfg.name}", pull,
                                       interval(cfg.schedule.interval_seconds), kind="source",
                                       source=cfg.name))


def _wire_forges(ctx: Context, components: Components) -> None:
    configured = [(kind, cfg) for kind in ("github", "gitlab", "argocd")
                  for cfg in getattr(ctx.settings.sources, kind)]
    if not configured:
        return
    from ..sources import forges
    from .forge_runs import ingest_changes
    for kind, cfg in configured:
        # pull sources live as long as this wiring: their HTTP client and ETag cache serve
        # every run (a 304 costs no quota); closed when the daemon stops or reloads
        sources = forges.pull_sources(kind, cfg)

        async def pull(cfg=cfg, kind=kind, sources=sources) -> RunReport:
            stats = await ingest_changes(sources, kind, cfg.name, ctx.writer_for(cfg.name),
                                         ctx.state)
            counts = stats.as_dict()
            return RunReport(counts={k: v for k, v in counts.items() if isinstance(v, int)})

        async def close(sources=sources) -> None:
            for source in sources:
                await source.close()

        components.closers.append(close)
        components.sources[cfg.name] = 0
        components.quiet_sources.add(cfg.name)
        components.jobs.append(JobSpec(f"source:{cfg.name}", pull,
                                       interval(cfg.schedule.interval_seconds), kind="source",
                                       source=cfg.name))


# -- threat rules ----------------------------------------------------------------------------

def _wire_rules(ctx: Context, components: Components) -> None:
    from ..detect.engine import EngineStats, evaluate_due
    from ..detect.loader import load_rules
    from ..findings.exceptions import load_exceptions
    settings = ctx.settings.rules
    dirs = list(settings.dirs) or None
    ruleset = load_rules(dirs)  # raises RuleValidationError with every issue
    exceptions = load_exceptions(settings.exceptions_file)
    rules = apply_fast_lane([rule for rule in ruleset if rule.enabled], settings.fast_lane)
    components.rule_ids.extend(rule.id for rule in rules)
    for rule in rules:
        components.rule_info[rule.id] = (rule.name, rule.severity.value, rule.type)
    engine_stats = EngineStats()
    seen_runs: dict[str, Counter[str]] = {}
    seen_matches: dict[str, Counter[str]] = {}
    max_segment = timedelta(seconds=settings.max_backfill_segment_seconds)
    from ..inventory import InventorySource
    # re-read at every run: an inventory change applies at the next run, without a restart
    inventory = InventorySource(settings.inventory_file)

    def created() -> None:
        for hook in components.on_findings_created:
            hook()

    async def evaluate() -> RunReport:
        stats = await evaluate_due(rules, ctx.store, ctx.state,
                                   read_until(components.horizons, datetime.now(UTC)),
                                   stats=engine_stats, exceptions=exceptions,
                                   max_segment=max_segment,
                                   inventory=await inventory.current(ctx.store),
                                   on_created=created, writer=ctx.writer)
        runs = []
        for rule_id, rs in engine_stats.rules.items():
            runs_delta = rs.runs - seen_runs.get(rule_id, Counter())
            matches_delta = rs.matches - seen_matches.get(rule_id, Counter())
            seen_runs[rule_id], seen_matches[rule_id] = Counter(rs.runs), Counter(rs.matches)
            for outcome in ("success", "error"):
                for _ in range(runs_delta.get(outcome, 0)):
                    runs.append(RuleRun(rule_id, outcome, rs.last_duration_seconds,
                                        dict(matches_delta) if outcome == "success" else {},
                                        rs.searched_to))
                    matches_delta = Counter()
        for rule_id in stats.truncated:
            ctx.metrics.rule_truncated.labels(rule=rule_id).inc()
        for rule_id, rs in engine_stats.rules.items():
            ctx.metrics.rule_learning.labels(rule=rule_id).set(1 if rs.learning else 0)
        if stats.errors and not stats.rules_evaluated:
            raise RuntimeError("every due rule failed: " + "; ".join(
                f"{k}: {v}" for k, v in list(stats.errors.items())[:3]))
        return RunReport(counts={"evaluated": stats.rules_evaluated, "findings": stats.findings,
                                 "created": stats.created, "duplicates": stats.duplicates,
                                 "errors": len(stats.errors), "gaps": len(stats.gaps),
                                 "truncated": len(stats.truncated),
                                 "unbound": len(stats.unbound),
                                 "learning": len(stats.learning),
                                 "round_trips": stats.round_trips}, rules=tuple(runs),
                         detail={"first_error": next(iter(stats.errors.values()))[:500]}
                         if stats.errors else {})

    components.jobs.append(JobSpec("rules", evaluate, interval(settings.schedule.interval_seconds),
                                   kind="rules"))


# -- compliance ------------------------------------------------------------------------------

def _wire_compliance(ctx: Context, components: Components) -> None:
    from ..compliance.run import evaluate_period, load_pack, publish_metrics, summarize
    # a configured rules folder with a pci/ pack replaces the bundled one
    roots = [d for d in ctx.settings.rules.dirs if (d / "pci").is_dir()]
    catalogue, controls, sources = load_pack(roots[0] if roots else None)  # RuleError if bad
    components.control_ids.extend(c.id for c in controls)
    components.frameworks[catalogue.framework] = list(catalogue.ids)
    metrics = ctx.metrics
    inventory_file = ctx.settings.rules.inventory_file
    from ..findings.exceptions import load_exceptions
    from ..inventory import InventorySource, load_inventory
    if inventory_file is not None:
        load_inventory(inventory_file)  # RuleError if bad: refuse to start/reload
    # re-read at every run (else the snapshot stored by `monitor inventory load`)
    inventories = InventorySource(inventory_file)
    # control waivers: the exceptions file the rule engine reads, with the same schema
    waivers = load_exceptions(ctx.settings.rules.exceptions_file)
    finalized: set[datetime] = set()

    async def evaluate() -> RunReport:
        now = datetime.now(UTC)
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        # the last run before midnight misses the day's final minutes: once per day, settle
        # yesterday with its complete data before moving on
        yesterday = start - timedelta(days=1)
        inventory = await inventories.current(ctx.store)
        if yesterday not in finalized:
            await evaluate_period(controls, catalogue, ctx.store, yesterday, start, now,
                                  sources=sources, inventory=inventory, waivers=waivers)
            finalized.add(yesterday)
        results = await evaluate_period(controls, catalogue, ctx.store, start,
                                        start + timedelta(days=1), now, sources=sources,
                                        inventory=inventory, waivers=waivers)
        summary = summarize(catalogue, results)
        publish_metrics(metrics, summary, now)  # requirement ids come from the catalogue
        return RunReport(counts={f"controls_{k}": v for k, v in summary.by_status.items()})

    components.compliance_wired = True
    components.jobs.append(JobSpec("compliance", evaluate,
                                   interval(ctx.settings.rules.compliance_schedule.interval_seconds),
                                   kind="compliance"))


# -- reports ---------------------------------------------------------------------------------

def _wire_reports(ctx: Context, components: Components) -> None:
    from ..reports import scheduled
    render = scheduled.render_scheduled
    settings = ctx.settings.reports
    out_dir = settings.dir
    deliver = report_delivery(ctx)  # email / folder copy after the render (alerting settings)
    for kind in settings.kinds:
        async def run(kind=kind) -> RunReport:
            result = await render(ctx.store, kind, ctx.settings, out_dir, datetime.now(UTC))
            ctx.metrics.report_last_success.labels(framework=kind.framework,
                                                   period=kind.period).set(
                datetime.now(UTC).timestamp())
            if deliver is not None:
                await deliver(result)
            detail = {"path": str(result.path)}
            return RunReport(detail=detail)

        components.jobs.append(JobSpec(f"report:{kind.framework}:{kind.period}", run,
                                       cron(kind.cron), kind="report", run_at_start=False))


WIRES: list[Wire] = [_wire_checkpoint_api, _wire_snapshots, _wire_syslog, _wire_files, _wire_git,
                     _wire_forges, _wire_rules, _wire_compliance, _wire_reports, wire_alerting]
