"""Entry points: evaluate a period and write results; read per-requirement status back.

For the daemon (one shot per scheduled run; evaluate daily periods, reports combine them)::

    catalogue, controls, sources = load_pack()    # RuleError when the pack is inconsistent
    results = await evaluate_period(controls, catalogue, store, start, end, now,
                                    inventory=None, sources=None, write=True)
    summary = summarize(catalogue, results)       # pure
    summary.requirement_status   # {"1.2.2": "fail", "8.3.6": "manual", ...} every requirement
    summary.score                # passing share of checkable requirements (0..1), or None
    summary.by_status            # {"pass": 12, "fail": 2, ...} over controls
    summary.framework            # "pci-dss-4.0.1"

``inventory=None`` reads the stored snapshot (``monitor inventory load``); none stored means the
controls that need it are ``insufficient_data``. ``sources=None`` loads ``rules/pci/sources.yaml``.
Results go into the ``compliance`` kind with id ``<framework>:<control>:<start>:<end>`` and
``@timestamp`` = period start, so re-evaluating a period replaces its results.

    publish_metrics(metrics, summary, now)   # monitor_compliance_* gauges of monitor.metrics

For reports::

    rows = await requirement_status(store, catalogue, start, end, controls=None)
        -> list[RequirementStatus]   # id, title, status, coverage, controls[], manual

Each in-scope requirement appears once, with ``coverage`` ``automated`` or ``manual``; results of
shorter periods inside [start, end) (e.g. daily runs for a monthly report) are combined, and a
control evaluated for only part of the range is ``insufficient_data`` for it.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import RuleError
from ..findings.exceptions import FindingException, active_waivers
from ..inventory.model import Inventory
from ..inventory.storage import read_inventory
from ..model import ControlResult, ControlStatus, rollup_status
from ..resources import rules_dir
from ..store import Store
from ..store.compliance import put_documents, search_documents
from .catalogue import Catalogue, lint_catalogue, load_catalogue
from .controls import Control, Source, load_controls, load_sources
from .evaluate import FRAMEWORK, evaluate_control
from .gather import gather_evidence
from .queries import Period, iso

__all__ = [
    "ControlSummary",
    "RequirementStatus",
    "Summary",
    "evaluate_period",
    "requirement_status",
    "result_document",
    "result_id",
    "summarize",
]

log = logging.getLogger(__name__)

def load_pack(rules_root: Path | None = None) -> tuple[Catalogue, list[Control], dict[str, Source]]:
    """Catalogue, controls and sources from ``<rules_root>/pci`` (default: the bundled rules),
    cross-checked; ``RuleError`` lists every problem."""
    folder = (rules_root or rules_dir()) / "pci"
    sources = load_sources(folder / "sources.yaml")
    controls = load_controls(folder / "controls", sources)
    catalogue = load_catalogue(folder / "requirements.yaml")
    problems = lint_catalogue(catalogue, controls)
    if problems:
        raise RuleError("\n".join(problems))
    return catalogue, controls, sources


def result_id(framework: str, control_id: str, start: datetime, end: datetime) -> str:
    return f"{framework}:{control_id}:{iso(start)}:{iso(end)}"


def result_document(result: ControlResult) -> dict[str, Any]:
    return {
        "@timestamp": iso(result.period_start),
        "event": {"kind": "state", "dataset": "monitor.compliance", "module": "monitor"},
        "control": {
            "id": result.control_id, "name": result.control_name, "status": result.status.value,
            "requirements": list(result.requirements), "framework": result.framework,
            "period": {"start": iso(result.period_start), "end": iso(result.period_end)},
            "evaluated_at": iso(result.evaluated_at), "evidence": result.evidence,
            "counts": result.counts, "completeness": result.completeness, "reason": result.reason,
        },
    }


async def evaluate_period(controls: list[Control], catalogue: Catalogue, store: Store,
                          start: datetime, end: datetime, now: datetime | None = None, *,
                          inventory: Inventory | None = None,
                          sources: dict[str, Source] | None = None,
                          write: bool = True,
                          scope: dict[str, Any] | None = None,
                          waivers: list[FindingException] | None = None) -> list[ControlResult]:
    """Evaluate every control for [start, end) and (by default) write the results.
    ``scope``: an extra query filter on every search (fixture isolation; None in production).
    ``waivers``: the exceptions file (``findings.exceptions``); a failed control with a control
    waiver in force at the period end is ``waived``, the failure and the waiver in its evidence;
    an expired waiver is not applied (the failure resurfaces)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    period = Period(start.astimezone(UTC), end.astimezone(UTC))
    sources = sources if sources is not None else load_sources()
    if inventory is None:
        inventory = await read_inventory(store)
        if inventory is None:
            log.warning("no inventory stored (run `monitor inventory load`); controls that need "
                        "it report insufficient_data")
            inventory = Inventory(generic_accounts=[], insecure_services=[])
    gathered = await gather_evidence(controls, sources, inventory, store, period, now, scope)
    results = [_waived(evaluate_control(c, gathered.evidence[c.id], period, now,
                                        catalogue.framework), waivers or [], period)
               for c in controls]
    log.info("compliance %s..%s: %d controls, %d searches in %d round trips (took %d ms)",
             iso(period.start), iso(period.end), len(results), gathered.searches,
             gathered.round_trips, gathered.took_ms)
    if write:
        await put_documents(store, "compliance", [
            (result_id(r.framework, r.control_id, r.period_start, r.period_end),
             result_document(r)) for r in results], refresh=True)
    return results


def _waived(result: ControlResult, waivers: list[FindingException], period: Period
            ) -> ControlResult:
    if result.status != ControlStatus.failed:
        return result
    active = active_waivers(waivers, result.control_id, result.requirements,
                            min(period.end, result.evaluated_at))
    if not active:
        return result
    shown = [{"id": w.id, "justification": w.justification, "approver": w.approver,
              "expires": iso(w.expires)} for w in active]
    return replace(result, status=ControlStatus.waived,
                   reason=f"failure accepted by waiver {', '.join(w.id for w in active)}: "
                          + result.reason,
                   evidence={**result.evidence, "waivers": shown, "waived_status": "fail"})


@dataclass(frozen=True, slots=True)
class Summary:
    framework: str
    requirement_status: dict[str, str]
    by_status: dict[str, int]
    score: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"framework": self.framework, "requirement_status": self.requirement_status,
                "by_status": self.by_status, "score": self.score}


def summarize(catalogue: Catalogue, results: list[ControlResult]) -> Summary:
    """Per-requirement status (every requirement of the catalogue) and the framework score."""
    by_control = {r.control_id: r.status for r in results}
    statuses: dict[str, str] = {}
    for requirement in catalogue.requirements:
        automated = [by_control[c] for c in requirement.controls
                     if c in by_control and by_control[c] != ControlStatus.manual]
        missing = [c for c in requirement.controls if c not in by_control]
        status = rollup_status(automated)
        if missing and automated and status == ControlStatus.passed:
            status = ControlStatus.insufficient_data  # a covering control was not evaluated
        statuses[requirement.id] = status.value
    counted = [s for s in statuses.values() if s in ("pass", "fail", "insufficient_data")]
    score = round(sum(1 for s in counted if s == "pass") / len(counted), 4) if counted else None
    by_status = dict(Counter(r.status.value for r in results))
    return Summary(catalogue.framework, statuses, by_status, score)


def publish_metrics(metrics: Any, summary: Summary, evaluated_at: datetime) -> None:
    """Set the compliance gauges of ``monitor.metrics.Metrics`` (duck-typed: ``add_framework``,
    ``set_requirement_status``, ``compliance_score``, ``compliance_last_evaluation``)."""
    metrics.add_framework(summary.framework, summary.requirement_status)
    for requirement, status in summary.requirement_status.items():
        metrics.set_requirement_status(summary.framework, requirement, status)
    if summary.score is not None:
        metrics.compliance_score.labels(framework=summary.framework).set(summary.score)
    metrics.compliance_last_evaluation.labels(framework=summary.framework).set(
        evaluated_at.timestamp())


@dataclass(frozen=True, slots=True)
class ControlSummary:
    id: str
    name: str
    status: str
    reason: str
    completeness: float
    periods: int
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RequirementStatus:
    id: str
    title: str
    status: str               # pass | fail | insufficient_data | not_applicable | manual
    coverage: str             # automated | manual
    controls: tuple[ControlSummary, ...] = ()
    manual: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "status": self.status,
                "coverage": self.coverage, "manual": self.manual,
                "controls": [c.__dict__ if hasattr(c, "__dict__") else
                             {k: getattr(c, k) for k in c.__slots__} for c in self.controls]}


def _combine(control_id: str, docs: list[dict[str, Any]], start: datetime, end: datetime
             ) -> ControlSummary:
    """One control over [start, end) from the results of the periods inside it."""
    name = docs[0]["control"]["name"] if docs else control_id
    if not docs:
        return ControlSummary(control_id, name, ControlStatus.insufficient_data.value,
                              "not evaluated for this period", 0.0, 0)
    spans: list[tuple[datetime, datetime]] = []
    statuses: list[ControlStatus] = []
    counts: Counter[str] = Counter()
    reasons: list[str] = []
    for doc in docs:
        control = doc["control"]
        spans.append((datetime.fromisoformat(control["period"]["start"]),
                      datetime.fromisoformat(control["period"]["end"])))
        status = ControlStatus(control["status"])
        statuses.append(status)
        counts.update({k: int(v) for k, v in (control.get("counts") or {}).items()
                       if isinstance(v, (int, float))})
        if status in (ControlStatus.failed, ControlStatus.insufficient_data):
            reasons.append(f"{control['period']['start'][:10]}: {control.get('reason', '')}")
    covered = 0.0
    cursor = start
    for span_start, span_end in sorted(spans):
        span_start = max(span_start, cursor)
        if span_end > span_start:
            covered += (span_end - span_start).total_seconds()
            cursor = span_end
    share = covered / max((end - start).total_seconds(), 1)
    manual = all(s == ControlStatus.manual for s in statuses)
    status = rollup_status(statuses)
    if not manual and share < 0.999 and status != ControlStatus.failed:
        status = ControlStatus.insufficient_data
        reasons.insert(0, f"evaluated for {share:.0%} of the period")
    completeness = min((float(d["control"].get("completeness", 0)) for d in docs), default=0.0)
    reason = "; ".join(reasons[:5]) or docs[-1]["control"].get("reason", "")
    return ControlSummary(control_id, name, status.value, reason, round(completeness, 4),
                          len(docs), dict(counts))


async def requirement_status(store: Store, catalogue: Catalogue, start: datetime, end: datetime,
                             framework: str = FRAMEWORK, controls: list[Control] | None = None
                             ) -> list[RequirementStatus]:
    """Every requirement of the catalogue with its status over [start, end), from stored results.
    With ``controls``, manual controls count as manual even when no result was stored."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    docs = await search_documents(store, "compliance", {"bool": {"filter": [
        {"term": {"control.framework": framework}},
        {"range": {"control.period.start": {"gte": iso(start)}}},
        {"range": {"control.period.end": {"lte": iso(end)}}},
    ]}}, size=10_000, sort=[{"control.period.start": "asc"}, "_doc"])
    by_control: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_control.setdefault(doc["control"]["id"], []).append(doc)
    manual = {c.id: c for c in controls or [] if c.mode == "manual"}
    rows: list[RequirementStatus] = []
    for requirement in catalogue.requirements:
        summaries = tuple(
            ControlSummary(c, manual[c].name, "manual", f"manual: {manual[c].evidence}", 0.0, 0)
            if c in manual and not by_control.get(c) else _combine(c, by_control.get(c, []), start, end)
            for c in requirement.controls)
        automated = [ControlStatus(s.status) for s in summaries if s.status != "manual"]
        status = rollup_status(automated)
        rows.append(RequirementStatus(requirement.id, requirement.title, status.value,
                                      "automated" if automated else "manual", summaries,
                                      requirement.manual))
    return rows
