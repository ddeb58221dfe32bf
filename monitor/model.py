"""Values shared between stages. Frozen, typed, no I/O.

The document shapes in Elasticsearch (``store/mappings.py``) are the durable contract; these
dataclasses are how Python code hands them around before they are written.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

__all__ = ["ControlResult", "ControlStatus", "Finding", "RawRecord", "Severity"]


class RawRecord(NamedTuple):
    """Bytes as received from a source, before any parsing. ``source`` names the origin
    (e.g. ``checkpoint:syslog:10.0.0.1``); ``received_at`` is our clock, not the event's.

    A NamedTuple, not a frozen dataclass: equally immutable, and one is built per received
    line (1.3 µs as a frozen dataclass, a tenth of the whole fast-path normalization)."""

    source: str
    payload: bytes
    received_at: datetime
    sequence: int | None = None


class Severity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class ControlStatus(StrEnum):
    """Result of a compliance control for one period. Missing data is never ``pass``."""

    passed = "pass"
    failed = "fail"
    insufficient_data = "insufficient_data"
    not_applicable = "not_applicable"
    manual = "manual"
    waived = "waived"


@dataclass(frozen=True, slots=True)
class Finding:
    """A threat-rule hit: deterministic ``id`` from (rule, group key, window)."""

    id: str
    rule_id: str
    rule_name: str
    rule_version: int
    rule_type: str
    severity: Severity
    risk_score: int
    window_start: datetime
    window_end: datetime
    group: dict[str, Any]
    count: int
    query: dict[str, Any]
    sample_ids: tuple[str, ...] = ()
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    mitre_tactics: tuple[str, ...] = ()
    mitre_techniques: tuple[str, ...] = ()
    pci_requirements: tuple[str, ...] = ()
    description: str = ""
    status: str = "open"
    exception: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ControlResult:
    """A compliance control's verdict for one period, with the evidence behind it."""

    control_id: str
    control_name: str
    requirements: tuple[str, ...]
    status: ControlStatus
    period_start: datetime
    period_end: datetime
    evaluated_at: datetime
    reason: str
    counts: dict[str, int] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
    completeness: float = 1.0
    framework: str = "pci-dss-4.0.1"
