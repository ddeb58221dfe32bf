"""``streak``: no success after ≥ ``threshold`` failures within ``window_minutes`` per key.

The window slides over per-minute buckets, so a streak straddling an hour border counts."""
from __future__ import annotations

from typing import Any

from ...model import ControlStatus
from ..controls import Streak
from ..queries import Period, bool_filter, substitute, time_range, window_of
from .base import MAX_LISTED, CheckOutcome, Judging, Request, empty, iso_ms


def requests(check: Streak, params: dict[str, Any], period: Period) -> list[Request]:
    window = window_of(check, period)
    failure = substitute(check.failure, params, period)
    success = substitute(check.success, params, period)
    query = substitute(check.query, params, period)
    return [(check.kind, {
        "query": bool_filter(time_range(window), query,
                             {"bool": {"should": [failure, success], "minimum_should_match": 1}}),
        "aggs": {"keys": {"terms": {"field": check.by, "size": 500}, "aggs": {"minutes": {
            "date_histogram": {"field": "@timestamp", "fixed_interval": "1m",
                               "min_doc_count": 1},
            "aggs": {"outcome": {"filters": {"filters": {"failure": failure,
                                                         "success": success}}}}}}}}})]


def _violations(check: Streak, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    window_ms = check.window_minutes * 60_000
    found = []
    for key in keys:
        minutes = sorted(key["minutes"]["buckets"], key=lambda b: b["key"])
        recent: list[tuple[int, int]] = []
        for bucket in minutes:
            at = int(bucket["key"])
            outcome = bucket["outcome"]["buckets"]
            fails = int(outcome["failure"]["doc_count"])
            successes = int(outcome["success"]["doc_count"])
            recent = [(t, n) for t, n in recent if t > at - window_ms]
            prior = sum(n for _, n in recent)
            if successes and prior >= check.threshold:
                found.append({"key": key["key"], "success_at": iso_ms(at),
                              "failures_before": prior})
                recent = []
                continue
            if fails:
                recent.append((at, fails))
    return found


def judge(check: Streak, responses: list[dict[str, Any]], ctx: Judging) -> CheckOutcome:
    name = check.name
    keys = responses[0].get("aggregations", {}).get("keys", {}).get("buckets", [])
    violations = _violations(check, keys)
    failed_keys = sorted({v["key"] for v in violations})
    details = {"threshold": check.threshold, "window_minutes": check.window_minutes,
               "keys": len(keys), "violations": violations[:MAX_LISTED]}
    if not keys:
        return empty(check, "no authentication events", details, ctx)
    if violations:
        return CheckOutcome(name, check.type, ControlStatus.failed,
                            f"{name}: success after ≥{check.threshold} failures for "
                            f"{', '.join(map(str, failed_keys[:10]))}", len(keys),
                            len(failed_keys), details, ctx.queries)
    return CheckOutcome(name, check.type, ControlStatus.passed,
                        f"{name}: no success after a failure streak ({len(keys)} accounts)",
                        len(keys), 0, details, ctx.queries)
