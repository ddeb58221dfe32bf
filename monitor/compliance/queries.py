"""Pure helpers of the Elasticsearch request bodies a control needs (no I/O): the period,
placeholder substitution, and the coverage search of a data source. Each check kind builds its
own bodies in ``checks/<kind>.py``.

Every body is ``size: 0`` with aggregations only, written for the minimal distribution: no
scripts, no ``bucket_selector``, no runtime fields. The exact body is kept in each result's
evidence so an auditor can re-run it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..timefmt import iso_ms
from .controls import Check, Source

__all__ = [
    "FIRST_LAST",
    "Period",
    "bool_filter",
    "duration",
    "iso",
    "ms",
    "samples",
    "source_request",
    "substitute",
    "time_range",
    "window_of",
]

_PLACEHOLDER = re.compile(r"^\$(inventory|period)\.([a-z_]+)(\|\|.*)?$")


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("period bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError("period end must be after its start")


iso = iso_ms


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def duration(text: str) -> timedelta:
    unit = text[-1]
    value = int(text[:-1])
    return {"s": timedelta(seconds=value), "m": timedelta(minutes=value),
            "h": timedelta(hours=value), "d": timedelta(days=value)}[unit]


def substitute(value: Any, params: dict[str, Any], period: Period) -> Any:
    """Replace ``$inventory.x`` / ``$period.start|end`` (with optional ``||date-math``)."""
    if isinstance(value, dict):
        return {k: substitute(v, params, period) for k, v in value.items()}
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            replaced = substitute(item, params, period)
            # a placeholder for a list inside a list splices (terms: [a, $inventory.b])
            if isinstance(item, str) and item.startswith("$inventory.") and isinstance(replaced, list):
                out.extend(replaced)
            else:
                out.append(replaced)
        return out
    if isinstance(value, str) and value.startswith("$"):
        match = _PLACEHOLDER.match(value)
        if match is None:
            raise KeyError(value)
        scope, key, math = match.groups()
        if scope == "period":
            moment = period.start if key == "start" else period.end
            return iso(moment) + (math or "")
        return params[key]
    return value


def skew_interval_minutes(window: Period) -> int:
    """Ingest-time bucket width of ``clock_skew``: 1 minute for a day, wider for longer windows
    so sources × buckets stays far below ``search.max_buckets`` (at most ~1440 per source)."""
    minutes = (window.end - window.start).total_seconds() / 60
    return max(1, int(-(-minutes // 1440)))


def window_of(check: Check, period: Period) -> Period:
    if check.lookback_days:
        return Period(period.end - timedelta(days=check.lookback_days), period.end)
    return period


def time_range(window: Period, field: str = "@timestamp") -> dict[str, Any]:
    return {"range": {field: {"gte": iso(window.start), "lt": iso(window.end)}}}


def bool_filter(*filters: dict[str, Any]) -> dict[str, Any]:
    return {"bool": {"filter": [f for f in filters if f]}}


FIRST_LAST = {"first_seen": {"min": {"field": "@timestamp"}},
              "last_seen": {"max": {"field": "@timestamp"}}}


def samples(size: int) -> dict[str, Any]:
    return {"samples": {"top_hits": {"size": size, "_source": False,
                                     "sort": [{"@timestamp": {"order": "asc"}}]}}}


def source_request(source: Source, period: Period) -> tuple[str, dict[str, Any]]:
    """Coverage of a data source across the period: non-empty ``interval`` buckets."""
    return (source.kind, {
        "query": bool_filter(time_range(period), source.query),
        "aggs": {"buckets": {"date_histogram": {"field": "@timestamp",
                                                "fixed_interval": source.interval,
                                                "min_doc_count": 1}}}})
