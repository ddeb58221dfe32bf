"""Pure builders of the Elasticsearch request bodies a control needs (no I/O).

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
from .controls import (
    Check,
    ClockSkew,
    EachPresent,
    MaxAge,
    NoMatches,
    Ratio,
    Reconcile,
    Retention,
    Source,
    Streak,
)

__all__ = [
    "SHA_RE",
    "Period",
    "check_requests",
    "duration",
    "iso",
    "ms",
    "reconcile_lookup",
    "source_request",
    "substitute",
    "window_of",
]

SHA_RE = re.compile(r"\b[0-9a-f]{7,40}\b")
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


def _range(window: Period, field: str = "@timestamp") -> dict[str, Any]:
    return {"range": {field: {"gte": iso(window.start), "lt": iso(window.end)}}}


def _bool(*filters: dict[str, Any]) -> dict[str, Any]:
    return {"bool": {"filter": [f for f in filters if f]}}


_FIRST_LAST = {"first_seen": {"min": {"field": "@timestamp"}},
               "last_seen": {"max": {"field": "@timestamp"}}}


def _samples(size: int) -> dict[str, Any]:
    return {"samples": {"top_hits": {"size": size, "_source": False,
                                     "sort": [{"@timestamp": {"order": "asc"}}]}}}


def check_requests(check: Check, params: dict[str, Any], period: Period
                   ) -> list[tuple[str, dict[str, Any]]]:
    """(kind, body) searches answering one check (most need one, ``ratio`` two)."""
    window = window_of(check, period)
    query = substitute(check.query, params, period)
    if isinstance(check, NoMatches):
        violation = substitute(check.violation, params, period)
        inner: dict[str, Any] = dict(_FIRST_LAST)
        if check.group_by:
            inner["groups"] = {
                "composite": {"size": 50, "sources": [
                    {f: {"terms": {"field": f, "missing_bucket": True}}} for f in check.group_by]},
                "aggs": {**_FIRST_LAST, **(_samples(check.samples) if check.samples else {})}}
        elif check.samples:
            inner.update(_samples(check.samples))
        return [(check.kind, {"query": _bool(_range(window), query),
                              "aggs": {"violations": {"filter": violation, "aggs": inner}}})]
    if isinstance(check, EachPresent):
        expected = substitute(check.expected, params, period)
        expected = expected if isinstance(expected, list) else [expected]
        terms: dict[str, Any] = {"field": check.field, "size": max(len(expected), 1)}
        if expected:
            terms["include"] = [str(e) for e in expected]
        group: dict[str, Any] = {"terms": terms}
        if check.interval:
            group["aggs"] = {"buckets": {"date_histogram": {
                "field": "@timestamp", "fixed_interval": check.interval, "min_doc_count": 1}}}
        return [(check.kind, {"query": _bool(_range(window), query), "aggs": {"groups": group}})]
    if isinstance(check, MaxAge):
        lookback = check.lookback_days or max(check.max_age_days * 4, 30)
        since = period.end - timedelta(days=lookback)
        return [(check.kind, {"query": _bool(_range(Period(since, period.end)), query),
                              "aggs": {"last": {"max": {"field": "@timestamp"}},
                                       "latest": {"top_hits": {"size": 1, "_source": False,
                                                               "sort": [{"@timestamp": "desc"}]}}}})]
    if isinstance(check, Ratio):
        return [(side.kind, {"query": _bool(_range(window), substitute(side.query, params, period))})
                for side in (check.numerator, check.denominator)]
    if isinstance(check, Reconcile):
        return [(check.kind, {"query": _bool(_range(window), query), "aggs": {"refs": {
            "composite": {"size": 1000, "sources": [
                {"ref": {"terms": {"field": check.field, "missing_bucket": True}}}]},
            "aggs": {**_FIRST_LAST, **_samples(3)}}}})]
    if isinstance(check, Streak):
        failure = substitute(check.failure, params, period)
        success = substitute(check.success, params, period)
        return [(check.kind, {
            "query": _bool(_range(window), query,
                           {"bool": {"should": [failure, success], "minimum_should_match": 1}}),
            "aggs": {"keys": {"terms": {"field": check.by, "size": 500}, "aggs": {"minutes": {
                "date_histogram": {"field": "@timestamp", "fixed_interval": "1m",
                                   "min_doc_count": 1},
                "aggs": {"outcome": {"filters": {"filters": {"failure": failure,
                                                             "success": success}}}}}}}}})]
    if isinstance(check, Retention):
        return [(check.kind, {"query": _bool(query),
                              "aggs": {"oldest": {"min": {"field": "@timestamp"}}}})]
    if isinstance(check, ClockSkew):
        return [(check.kind, {
            "query": _bool(_range(window), query, {"exists": {"field": "event.ingested"}}),
            "aggs": {"keys": {"terms": {"field": check.by, "size": 200}, "aggs": {"minutes": {
                "date_histogram": {"field": "event.ingested",
                                   "fixed_interval": f"{skew_interval_minutes(window)}m",
                                   "min_doc_count": 1},
                "aggs": {"latest": {"max": {"field": "@timestamp"}}}}}}}})]
    raise TypeError(f"unknown check type {type(check).__name__}")


def reconcile_lookup(check: Reconcile, refs: list[str], params: dict[str, Any],
                     period: Period) -> tuple[str, dict[str, Any]]:
    """Second round of a reconcile check: which referenced SHAs/tickets are approved changes."""
    shas = sorted({r for r in refs if SHA_RE.fullmatch(r)})
    others = sorted(set(refs) - set(shas))
    should: list[dict[str, Any]] = []
    for field in check.match_fields:
        if field.endswith("sha"):
            full = [s for s in shas if len(s) == 40]
            if full:
                should.append({"terms": {field: full}})
            should.extend({"prefix": {field: s}} for s in shas if len(s) < 40)
        else:
            if others:
                should.append({"terms": {field: others}})
    since = period.end - timedelta(days=check.changes_lookback_days)
    if not should:
        should = [{"bool": {"must_not": {"match_all": {}}}}]
    return ("changes", {
        "query": _bool({"range": {"@timestamp": {"gte": iso(since), "lt": iso(period.end)}}},
                       substitute(check.changes_query, params, period),
                       {"bool": {"should": should, "minimum_should_match": 1}}),
        "aggs": {field.replace(".", "_"): {"terms": {"field": field, "size": 2000}}
                 for field in check.match_fields}})


def source_request(source: Source, period: Period) -> tuple[str, dict[str, Any]]:
    """Coverage of a data source across the period: non-empty ``interval`` buckets."""
    return (source.kind, {
        "query": _bool(_range(period), source.query),
        "aggs": {"buckets": {"date_histogram": {"field": "@timestamp",
                                                "fixed_interval": source.interval,
                                                "min_doc_count": 1}}}})
