"""``clock_skew``: no source's events are stamped later than their ingest time + tolerance."""
from __future__ import annotations

from typing import Any

from ...model import ControlStatus
from ..controls import ClockSkew
from ..queries import Period, bool_filter, skew_interval_minutes, substitute, time_range, window_of
from .base import MAX_LISTED, CheckOutcome, Judging, Request, empty, iso_ms


def requests(check: ClockSkew, params: dict[str, Any], period: Period) -> list[Request]:
    window = window_of(check, period)
    query = substitute(check.query, params, period)
    return [(check.kind, {
        "query": bool_filter(time_range(window), query, {"exists": {"field": "event.ingested"}}),
        "aggs": {"keys": {"terms": {"field": check.by, "size": 200}, "aggs": {"minutes": {
            "date_histogram": {"field": "event.ingested",
                               "fixed_interval": f"{skew_interval_minutes(window)}m",
                               "min_doc_count": 1},
            "aggs": {"latest": {"max": {"field": "@timestamp"}}}}}}}})]


def judge(check: ClockSkew, responses: list[dict[str, Any]], ctx: Judging) -> CheckOutcome:
    name = check.name
    tolerance = check.tolerance_seconds * 1000
    width = skew_interval_minutes(window_of(check, ctx.period)) * 60_000
    future = []
    buckets = 0
    for key in responses[0].get("aggregations", {}).get("keys", {}).get("buckets", []):
        for minute in key["minutes"]["buckets"]:
            buckets += 1
            latest = minute["latest"].get("value")
            if latest is not None and latest > minute["key"] + width + tolerance:
                future.append({"key": key["key"], "ingested_minute": iso_ms(minute["key"]),
                               "latest_event_time": iso_ms(latest),
                               "ahead_seconds": round((latest - minute["key"] - width) / 1000, 1)})
    details = {"tolerance_seconds": check.tolerance_seconds, "minute_buckets": buckets,
               "future_dated": future[:MAX_LISTED]}
    if buckets == 0:
        return empty(check, "no events with event.ingested", details, ctx)
    if future:
        keys = sorted({str(f["key"]) for f in future})
        return CheckOutcome(name, check.type, ControlStatus.failed,
                            f"{name}: future-dated events from {', '.join(keys[:10])}",
                            buckets, len(future), details, ctx.queries)
    return CheckOutcome(name, check.type, ControlStatus.passed,
                        f"{name}: no future-dated events", buckets, 0, details, ctx.queries)
