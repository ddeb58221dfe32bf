"""What every compliance check kind shares: the request/verdict protocol and small helpers.

A check kind is a module with two pure functions (no I/O, no clock), like the rule types of
``monitor/detect/types``:

    requests(check, params, period) -> list[Request]          # (index kind, body) searches
    judge(check, responses, ctx) -> CheckOutcome              # their answers → a verdict

and, when its question needs a second round (``reconcile`` looks up the changes an event
references), ``followup(check, responses, params, period) -> Request | None``; its answer is
appended to ``responses`` before ``judge`` runs. ``gather.py`` batches every kind's requests into
one ``_msearch`` per round, so adding a kind never adds a round trip.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from ...model import ControlStatus
from ..queries import Period, duration, iso, ms

__all__ = [
    "MAX_LISTED",
    "CheckKind",
    "CheckOutcome",
    "Judging",
    "Request",
    "empty",
    "expected_keys",
    "gaps",
    "hit_ids",
    "iso_ms",
    "total",
]

MAX_LISTED = 50

Request = tuple[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    name: str
    type: str
    status: ControlStatus
    reason: str
    evaluated: int = 0
    failed: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    queries: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "status": self.status.value,
                "reason": self.reason, "evaluated": self.evaluated, "failed": self.failed,
                "details": self.details, "queries": list(self.queries)}


@dataclass(frozen=True, slots=True)
class Judging:
    """Everything a verdict may depend on besides the responses: the inventory parameters,
    the period, the searches shown as evidence, and ``now`` (an in-progress period is judged
    on what has elapsed; ``None`` means the period end)."""

    params: dict[str, Any]
    period: Period
    queries: tuple[dict[str, Any], ...] = ()
    now: datetime | None = None

    @property
    def at(self) -> datetime:
        return self.now or self.period.end


class CheckKind(NamedTuple):
    requests: Callable[..., list[Request]]
    judge: Callable[..., CheckOutcome]
    followup: Callable[..., Request | None] | None = None


def total(response: dict[str, Any]) -> int:
    value = response.get("hits", {}).get("total", 0)
    return int(value.get("value", 0) if isinstance(value, dict) else value)


def hit_ids(hit_block: dict[str, Any] | None) -> list[str]:
    if not hit_block:
        return []
    return [h["_id"] for h in hit_block.get("hits", {}).get("hits", [])]


def iso_ms(value: float) -> str:
    return iso(datetime.fromtimestamp(value / 1000, UTC))


def empty(check: Any, what: str, details: dict[str, Any], ctx: Judging) -> CheckOutcome:
    """The verdict when nothing was there to evaluate: the check's ``when_empty``."""
    return CheckOutcome(check.name, check.type, ControlStatus(check.when_empty),
                        f"{check.name}: {what}", 0, 0, details, ctx.queries)


def expected_keys(period: Period, interval: str, now: datetime,
                  present: set[int] | None = None) -> list[int]:
    """Bucket keys that should hold data: every finished bucket of the period, plus a bucket
    still filling at ``now`` if it already has data (an in-progress day is judged on what has
    elapsed; a bucket that has not started is never expected)."""
    step = int(duration(interval).total_seconds() * 1000)
    start, end, now_ms = ms(period.start), ms(min(period.end, now)), ms(now)
    key = start - (start % step)
    keys = []
    while key < end:
        if key + step <= now_ms or (present is not None and key in present):
            keys.append(key)
        key += step
    return keys


def gaps(missing: list[int], step: int) -> tuple[tuple[str, str], ...]:
    runs: list[list[int]] = []
    for key in sorted(missing):
        if runs and runs[-1][1] == key:
            runs[-1][1] = key + step
        else:
            runs.append([key, key + step])
    return tuple((iso_ms(a), iso_ms(b)) for a, b in runs)
