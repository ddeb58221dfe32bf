"""ReportData: every fact a report shows, as plain frozen values. No I/O here.

``monitor/reports/gather.py`` fills these from Elasticsearch aggregations; ``render.py`` turns
them into HTML and JSON. Keeping the values plain (strings, numbers, datetimes, tuples) makes the
JSON twin a direct dump and the output deterministic: every sequence is sorted where it is built.

Status vocabulary is ``monitor.model.ControlStatus``: pass, fail, insufficient_data,
not_applicable, manual, waived. Missing data is never a pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..model import STATUS_SEVERITY, worst_status

__all__ = [
    "STATUSES",
    "STATUS_LABELS",
    "ChangeControl",
    "ChangeRecord",
    "ControlReport",
    "Count",
    "DeadLetters",
    "FindingRow",
    "Gap",
    "Health",
    "MatchedChange",
    "Provenance",
    "ReportData",
    "ReportPoint",
    "RequirementReport",
    "RuleCount",
    "Sample",
    "SourceHealth",
    "StateRow",
    "StatusChange",
    "Summary",
    "Threats",
    "TimelineBucket",
    "WaiverRow",
    "worst",
]

#: display order, worst first (the roll-up's order)
STATUSES: tuple[str, ...] = tuple(status.value for status in STATUS_SEVERITY)
STATUS_LABELS = {
    "fail": "Fail", "insufficient_data": "Insufficient data", "waived": "Waived",
    "pass": "Pass", "not_applicable": "Not applicable", "manual": "Manual (assessor)",
}


def worst(statuses: list[str] | tuple[str, ...], default: str = "manual") -> str:
    """The most severe status of ``statuses`` (fail > insufficient_data > waived > pass > ...)."""
    return worst_status(statuses, default).value


@dataclass(frozen=True, slots=True)
class Gap:
    start: datetime
    end: datetime
    seconds: int


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """One data source: a (dataset, gateway) pair of events, or a Git repository of changes."""

    kind: str  # events | changes
    name: str
    dataset: str
    observer: str
    events_in_period: int
    last_event: datetime | None
    gaps: tuple[Gap, ...]
    gap_seconds: int
    bucket: str  # histogram interval the gaps were computed at, e.g. "1h"
    continuous: bool  # expected to log all the time (gaps count) vs event-driven


@dataclass(frozen=True, slots=True)
class Sample:
    """One evidence item, flattened to (field, value) text pairs, in field order."""

    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class ControlReport:
    id: str
    name: str
    requirements: tuple[str, ...]
    status: str
    evaluated_status: str  # what the evaluator said, before waivers and data-gap checks
    reason: str
    adjustments: tuple[str, ...]  # why status differs from evaluated_status
    description: str
    remediation: str
    windows: tuple[tuple[str, int], ...]  # (status, number of evaluation windows)
    counts: tuple[tuple[str, int], ...]
    evidence_count: int
    completeness: float | None
    last_evaluated: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    index: str
    query: str
    samples: tuple[Sample, ...]
    refs: tuple[str, ...]
    sources: tuple[str, ...]
    implemented: bool


@dataclass(frozen=True, slots=True)
class RequirementReport:
    id: str
    title: str
    status: str
    controls: tuple[tuple[str, str], ...]  # (control id, its status)
    evidence_count: int
    last_evidence: datetime | None
    manual: str
    reason: str


@dataclass(frozen=True, slots=True)
class MatchedChange:
    repo: str
    branch: str
    sha: str
    subject: str
    pull_request: str
    approvers: tuple[str, ...]
    independent_approval: bool | None
    checks_passed: bool | None
    deployment: str
    time: datetime | None


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    time: datetime | None
    gateway: str
    administrator: str
    operation: str
    object: str
    session: str
    description: str
    client: str
    outcome: str
    classification: str  # matched | ticket_only | out_of_band | system
    match_tier: str  # sha | ticket | "" ; confidence in the text
    matched: MatchedChange | None
    event_id: str


@dataclass(frozen=True, slots=True)
class ChangeControl:
    total: int
    shown: int
    matched: int
    ticket_only: int
    out_of_band: int
    system: int
    records: tuple[ChangeRecord, ...]
    query: str


@dataclass(frozen=True, slots=True)
class Count:
    key: str
    count: int


@dataclass(frozen=True, slots=True)
class RuleCount:
    rule_id: str
    name: str
    severity: str
    count: int


@dataclass(frozen=True, slots=True)
class TimelineBucket:
    start: datetime
    counts: tuple[tuple[str, int], ...]  # (severity, findings)


@dataclass(frozen=True, slots=True)
class FindingRow:
    id: str
    time: datetime | None
    rule_id: str
    rule_name: str
    severity: str
    status: str
    count: int
    group: tuple[tuple[str, str], ...]
    exception: str


@dataclass(frozen=True, slots=True)
class Threats:
    total: int
    by_severity: tuple[Count, ...]
    by_status: tuple[Count, ...]
    by_rule: tuple[RuleCount, ...]
    top_sources: tuple[Count, ...]
    top_targets: tuple[Count, ...]
    timeline: tuple[TimelineBucket, ...]
    timeline_interval: str
    top_findings: tuple[FindingRow, ...]


@dataclass(frozen=True, slots=True)
class WaiverRow:
    id: str
    target: str
    justification: str
    approver: str
    expires: datetime | None
    state: str  # active | expired | no_expiry
    applied_to: tuple[str, ...]
    kind: str = "control"  # control | finding


@dataclass(frozen=True, slots=True)
class StateRow:
    kind: str
    key: str
    updated_at: datetime | None
    detail: str


@dataclass(frozen=True, slots=True)
class DeadLetters:
    total: int
    by_source: tuple[Count, ...]
    by_stage: tuple[Count, ...]
    latest: tuple[Sample, ...]


@dataclass(frozen=True, slots=True)
class Health:
    ingestion_gaps: tuple[tuple[str, Gap], ...]  # (source name, gap)
    rule_gaps: tuple[StateRow, ...]
    job_failures: tuple[StateRow, ...]
    dead_letters: DeadLetters
    #: rules whose last run lacked the history their question needs (cold start)
    rules_learning: tuple[StateRow, ...] = ()


@dataclass(frozen=True, slots=True)
class ReportPoint:
    label: str
    end: datetime | None
    score: float | None
    status: str


@dataclass(frozen=True, slots=True)
class StatusChange:
    requirement: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class Summary:
    status: str  # overall banner status (worst requirement status, manual excluded)
    headline: str
    score: float | None
    requirement_counts: tuple[tuple[str, int], ...]
    control_counts: tuple[tuple[str, int], ...]
    top_failing: tuple[RequirementReport, ...]
    previous: ReportPoint | None
    score_delta: float | None
    changes: tuple[StatusChange, ...]
    trend: tuple[ReportPoint, ...]


@dataclass(frozen=True, slots=True)
class Provenance:
    framework: str
    framework_version: str
    period_kind: str
    period_label: str
    period_start: datetime
    period_end: datetime
    generated_at: datetime
    daemon_version: str
    rulepack_version: str
    index_prefix: str
    scope_gateways: tuple[str, ...]
    scope_repositories: tuple[str, ...]
    observed_gateways: tuple[str, ...]
    observed_repositories: tuple[str, ...]
    sources: tuple[SourceHealth, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReportData:
    title: str
    provenance: Provenance
    summary: Summary
    requirements: tuple[RequirementReport, ...]
    controls: tuple[ControlReport, ...]
    change_control: ChangeControl
    threats: Threats
    waivers: tuple[WaiverRow, ...]
    health: Health
    extra: dict[str, str] = field(default_factory=dict)
