"""Pure judgement: aggregation responses (evidence) → ``ControlResult``. No I/O, no clock.

    evaluate_control(control, evidence, period, now, framework) -> ControlResult
    source_coverage(source, response, period, now) -> Coverage

Each check's own verdict comes from its kind's module (``checks/<type>.py``).

Status rules, in order:

1. ``mode: manual`` → ``manual`` (the evidence note says what an assessor looks at).
2. Any check proves a violation → ``fail`` (a violation seen is real even if data has gaps).
3. A required inventory value is empty, a data source's coverage is below its minimum, or a
   check could not be judged → ``insufficient_data``. Missing or gappy data is never ``pass``.
4. Every check had nothing to evaluate → ``not_applicable`` (``when_empty`` can say otherwise).
5. Otherwise ``pass``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..model import ControlResult, ControlStatus
from .checks.base import MAX_LISTED, CheckOutcome, expected_keys, gaps, total
from .controls import Control, Source
from .queries import Period, duration

__all__ = [
    "FRAMEWORK",
    "CheckOutcome",
    "Coverage",
    "Evidence",
    "evaluate_control",
    "source_coverage",
]

FRAMEWORK = "pci-dss-4.0.1"
_MAX_LISTED = MAX_LISTED


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of the period a data source covers, in its own bucket size."""

    source: str
    interval: str
    expected: int
    present: int
    documents: int
    gaps: tuple[tuple[str, str], ...] = ()
    min_coverage: float = 1.0

    @property
    def ratio(self) -> float:
        return 1.0 if self.expected == 0 else self.present / self.expected

    @property
    def complete(self) -> bool:
        return self.expected > 0 and self.ratio >= self.min_coverage

    def as_dict(self) -> dict[str, Any]:
        return {"interval": self.interval, "expected_buckets": self.expected,
                "buckets_with_data": self.present, "documents": self.documents,
                "coverage": round(self.ratio, 4), "min_coverage": self.min_coverage,
                "complete": self.complete, "gaps": [list(g) for g in self.gaps[:_MAX_LISTED]],
                "gap_count": len(self.gaps)}


@dataclass(slots=True)
class Evidence:
    """What gather.py collected for one control in one period."""

    coverage: dict[str, Coverage] = field(default_factory=dict)
    outcomes: list[CheckOutcome] = field(default_factory=list)
    missing_inventory: list[str] = field(default_factory=list)
    #: the inventory declares the control's subject absent (``wireless: none``)
    declared_absent: str | None = None
    inventory_sha256: str | None = None


# -- coverage -----------------------------------------------------------------------------------

def source_coverage(source: Source, response: dict[str, Any], period: Period,
                    now: datetime) -> Coverage:
    step = int(duration(source.interval).total_seconds() * 1000)
    present = {int(b["key"]) for b in response.get("aggregations", {}).get("buckets", {})
               .get("buckets", []) if b.get("doc_count", 0) > 0}
    expected = expected_keys(period, source.interval, now, present)
    missing = [k for k in expected if k not in present]
    return Coverage(source.name, source.interval, len(expected), len(expected) - len(missing),
                    total(response), gaps(missing, step), source.min_coverage)


# -- control ------------------------------------------------------------------------------------

def evaluate_control(control: Control, evidence: Evidence, period: Period, now: datetime,
                     framework: str = FRAMEWORK) -> ControlResult:
    """Combine check outcomes and source coverage into the control's status for the period."""
    coverage = {name: evidence.coverage[name] for name in control.data_sources
                if name in evidence.coverage}
    completeness = min((c.ratio for c in coverage.values()), default=1.0)
    incomplete = [c for c in coverage.values() if not c.complete]
    not_collected = [name for name in control.data_sources if name not in evidence.coverage]
    outcomes = evidence.outcomes
    counts = {"evaluated": sum(o.evaluated for o in outcomes),
              "failed": sum(o.failed for o in outcomes), "checks": len(outcomes)}
    counts["passed"] = max(counts["evaluated"] - counts["failed"], 0)
    body: dict[str, Any] = {
        "checks": [o.as_dict() for o in outcomes],
        "sources": {name: c.as_dict() for name, c in sorted(coverage.items())},
        "pass_criteria": control.pass_criteria,
        "evidence_shown": control.evidence,
    }
    if evidence.inventory_sha256:
        body["inventory_sha256"] = evidence.inventory_sha256
    if evidence.missing_inventory:
        body["missing_inventory"] = sorted(evidence.missing_inventory)

    def result(status: ControlStatus, reason: str) -> ControlResult:
        return ControlResult(control_id=control.id, control_name=control.name,
                             requirements=tuple(control.requirements), status=status,
                             period_start=period.start, period_end=period.end, evaluated_at=now,
                             reason=reason, counts=counts, evidence=body,
                             completeness=round(completeness, 4), framework=framework)

    if control.mode == "manual":
        return result(ControlStatus.manual, f"manual: {control.evidence}")
    if evidence.declared_absent:
        body["declared_absent"] = evidence.declared_absent
        return result(ControlStatus.not_applicable, evidence.declared_absent)
    failed = [o for o in outcomes if o.status == ControlStatus.failed]
    if failed:
        return result(ControlStatus.failed, "; ".join(o.reason for o in failed))
    problems: list[str] = []
    if evidence.missing_inventory:
        problems.append("inventory lacks " + ", ".join(sorted(evidence.missing_inventory)))
    for name in not_collected:
        problems.append(f"source {name} not measured")
    for cov in incomplete:
        if cov.present == 0:
            problems.append(f"source {cov.source} has no data in the period")
        else:
            first_gap = cov.gaps[0] if cov.gaps else ("?", "?")
            problems.append(f"source {cov.source} covers {cov.present}/{cov.expected} "
                            f"{cov.interval} buckets (first gap {first_gap[0]}–{first_gap[1]})")
    problems += [o.reason for o in outcomes if o.status == ControlStatus.insufficient_data]
    if not outcomes and not problems:
        problems.append("no check ran")
    if problems:
        return result(ControlStatus.insufficient_data, "; ".join(problems))
    if all(o.status == ControlStatus.not_applicable for o in outcomes):
        return result(ControlStatus.not_applicable, "; ".join(o.reason for o in outcomes))
    return result(ControlStatus.passed, "; ".join(o.reason for o in outcomes
                                                   if o.status == ControlStatus.passed))
