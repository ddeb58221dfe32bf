"""``each_present``: every expected value of ``field`` has data in every ``interval`` bucket
(or once in the window when no interval)."""
from __future__ import annotations

from typing import Any

from ...model import ControlStatus
from ..controls import EachPresent
from ..queries import Period, bool_filter, duration, iso, substitute, time_range, window_of
from .base import MAX_LISTED, CheckOutcome, Judging, Request, expected_keys, gaps


def _expected(check: EachPresent, params: dict[str, Any], period: Period) -> list[str]:
    expected = substitute(check.expected, params, period)
    return [str(e) for e in (expected if isinstance(expected, list) else [expected])]


def requests(check: EachPresent, params: dict[str, Any], period: Period) -> list[Request]:
    window = window_of(check, period)
    expected = _expected(check, params, period)
    terms: dict[str, Any] = {"field": check.field, "size": max(len(expected), 1)}
    if expected:
        terms["include"] = expected
    group: dict[str, Any] = {"terms": terms}
    if check.interval:
        group["aggs"] = {"buckets": {"date_histogram": {
            "field": "@timestamp", "fixed_interval": check.interval, "min_doc_count": 1}}}
    query = substitute(check.query, params, period)
    return [(check.kind, {"query": bool_filter(time_range(window), query),
                          "aggs": {"groups": group}})]


def _per_value(check: EachPresent, expected: list[str], buckets: dict[str, Any],
               ctx: Judging) -> tuple[dict[str, Any], int, int]:
    window = window_of(check, ctx.period)
    per_value: dict[str, Any] = {}
    failed = evaluated = 0
    if check.interval:
        step = int(duration(check.interval).total_seconds() * 1000)
        for value in expected:
            have = {int(b["key"]) for b in buckets.get(value, {}).get("buckets", {})
                    .get("buckets", []) if b["doc_count"] > 0}
            keys = expected_keys(window, check.interval, ctx.at, have)
            missing = [k for k in keys if k not in have]
            evaluated += len(keys)
            failed += len(missing)
            per_value[value] = {"buckets_expected": len(keys), "buckets_missing": len(missing),
                                "gaps": [list(g) for g in gaps(missing, step)[:MAX_LISTED]]}
    else:
        for value in expected:
            count = int(buckets.get(value, {}).get("doc_count", 0))
            evaluated += 1
            failed += 0 if count else 1
            per_value[value] = {"documents": count}
    return per_value, evaluated, failed


def judge(check: EachPresent, responses: list[dict[str, Any]], ctx: Judging) -> CheckOutcome:
    name = check.name
    window = window_of(check, ctx.period)
    expected = _expected(check, ctx.params, ctx.period)
    buckets = {str(b["key"]): b for b in responses[0].get("aggregations", {}).get("groups", {})
               .get("buckets", [])}
    per_value, evaluated, failed = _per_value(check, expected, buckets, ctx)
    silent = sorted(v for v, d in per_value.items()
                    if d.get("buckets_missing", 0) or d.get("documents", 1) == 0)
    details = {"field": check.field, "interval": check.interval, "values": per_value,
               "silent": silent, "window": [iso(window.start), iso(window.end)]}
    if not expected:
        return CheckOutcome(name, check.type, ControlStatus.insufficient_data,
                            f"{name}: no expected values (inventory empty)", 0, 0, details,
                            ctx.queries)
    if failed:
        return CheckOutcome(name, check.type, ControlStatus.failed,
                            f"{name}: missing for {', '.join(silent[:10])}"
                            f"{' …' if len(silent) > 10 else ''}", evaluated, failed, details,
                            ctx.queries)
    return CheckOutcome(name, check.type, ControlStatus.passed,
                        f"{name}: present for all {len(expected)}", evaluated, 0, details,
                        ctx.queries)
