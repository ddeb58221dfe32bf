"""Report periods: which calendar window a daily/weekly/monthly/quarterly report covers.

A scheduled report covers the last *complete* period before ``now`` (UTC): the daily report run
at 00:30 on the 25th covers the 24th. Periods are half-open ``[start, end)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from ..timefmt import iso_s

__all__ = ["Period", "PeriodKind", "custom_period", "iso", "period_for"]

PeriodKind = Literal["daily", "weekly", "monthly", "quarterly", "custom"]
KINDS: tuple[str, ...] = ("daily", "weekly", "monthly", "quarterly")


#: UTC ISO-8601 with a ``Z`` and second precision (the form every report field uses)
iso = iso_s


@dataclass(frozen=True, slots=True)
class Period:
    kind: str
    start: datetime
    end: datetime
    label: str

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def _month_start(year: int, month: int) -> datetime:
    while month < 1:
        month += 12
        year -= 1
    while month > 12:
        month -= 12
        year += 1
    return datetime(year, month, 1, tzinfo=UTC)


def period_for(kind: str, now: datetime) -> Period:
    """The last complete ``kind`` period before ``now``."""
    now = now.astimezone(UTC)
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    if kind == "daily":
        start = today - timedelta(days=1)
        return Period(kind, start, today, f"daily_{start:%Y-%m-%d}")
    if kind == "weekly":
        end = today - timedelta(days=today.weekday())
        start = end - timedelta(days=7)
        year, week, _ = start.isocalendar()
        return Period(kind, start, end, f"weekly_{year}-W{week:02d}")
    if kind == "monthly":
        end = _month_start(now.year, now.month)
        start = _month_start(now.year, now.month - 1)
        return Period(kind, start, end, f"monthly_{start:%Y-%m}")
    if kind == "quarterly":
        first = (now.month - 1) // 3 * 3 + 1
        end = _month_start(now.year, first)
        start = _month_start(now.year, first - 3)
        return Period(kind, start, end, f"quarterly_{start.year}-Q{(start.month - 1) // 3 + 1}")
    raise ValueError(f"unknown report period {kind!r} (daily, weekly, monthly, quarterly)")


def custom_period(start: datetime, end: datetime) -> Period:
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        raise ValueError(f"report period ends ({iso(end)}) before it starts ({iso(start)})")
    return Period("custom", start, end, f"custom_{start:%Y%m%dT%H%MZ}_{end:%Y%m%dT%H%MZ}")
