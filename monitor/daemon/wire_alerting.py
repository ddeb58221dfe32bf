"""Daemon glue for ``monitor.alerting``: two jobs and a closer, nothing else.

* ``alerts:sync`` (active instance, every ``alerting.sync_interval_seconds``): compares open
  findings and failing controls with what was posted and queues the difference on disk. It
  never waits for a delivery, so rule evaluation never waits for Alertmanager either.
* the ``rules`` job, as soon as it has stored a new finding, starts a sync (in the background;
  the run goes on), so an alert leaves seconds after its finding, not after the whole run.
* ``alerts:deliver`` (every instance, every 15 s): keeps the delivery task running, which
  drains the disk queues (a standby still delivers what it queued while it was active).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .jobs import JobSpec, RunReport, interval

if TYPE_CHECKING:  # the daemon split moves these; only their shape matters here
    from .components import Components, Context

__all__ = ["report_delivery", "wire_alerting"]


def _rule_notes(ctx: Context) -> dict[str, str]:
    """rule id → triage note: the runbook annotation of a finding's alert."""
    from ..detect.loader import load_rules
    base = ctx.settings.base_dir
    dirs = [d if d.is_absolute() else base / d for d in ctx.settings.rules.dirs] or None
    return {rule.id: rule.note for rule in load_rules(dirs)}


def wire_alerting(ctx: Context, components: Components) -> None:
    cfg = ctx.settings.alerting
    if not cfg.enabled:
        return
    from ..alerting import build_alerting
    notes = _rule_notes(ctx) if cfg.findings else {}
    alerting = build_alerting(ctx.settings, ctx.store, ctx.metrics, notes)
    if alerting is None:
        return

    async def sync() -> RunReport:
        report = await alerting.run_sync()
        return RunReport(counts=report.as_dict())

    async def deliver() -> RunReport:
        return RunReport(counts={"alerts_queued": alerting.ensure_delivery()})

    components.jobs.append(JobSpec("alerts:sync", sync, interval(cfg.sync_interval_seconds),
                                   kind="alerts"))
    components.on_findings_created.append(alerting.kick)
    components.jobs.append(JobSpec("alerts:deliver", deliver, interval(15.0), kind="alerts",
                                   active_only=False))
    components.closers.append(alerting.close)



def report_delivery(ctx: Context) -> Callable[[Any], Awaitable[None]] | None:
    """What the report job calls after a render (``None``: no channel configured). Delivery
    retries inside; a failure is counted and recorded, never fails the rendered report."""
    cfg = ctx.settings.alerting.report_delivery
    if cfg.smtp is None and cfg.copy_to is None:
        return None
    from ..alerting.reports import deliver_report

    async def deliver(record: Any) -> None:
        await deliver_report(record, cfg, ctx.metrics, ctx.state, base_dir=ctx.settings.base_dir)

    return deliver
