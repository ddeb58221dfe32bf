"""``each_present``: every expected value of ``field`` has data in every ``interval`` bucket
(or once in the window when no interval).

With ``lookback_days`` (CHK-33: every administrator logged in within 90 days) an absence is a
failure only when the data reaches back over the whole lookback: on an index holding three
weeks, "not seen in 90 days" is unknown, so the check is ``insufficient_data`` until then."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from ...model import ControlStatus
from ..controls import EachPresent
from ..queries import Period, bool_filter, duration, iso, ms, substitute, time_range, window_of
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
    out: list[tuple[str, dict[str, Any]]] = [(check.kind, {
        "query": bool_filter(time_range(window), query), "aggs": {"groups": group}})]
    if check.lookback_days:  # how far back the data goes at all (no time bound)
        out.append((check.kind, {"query": bool_filter(query),
                                 "aggs": {"oldest": {"min": {"field": "@timestamp"}}}}))
    return out


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


def _short_history(check: EachPresent, response: dict[str, Any], window: Period) -> str | None:
    """The start of the data when it does not reach back over the lookback (a day's slack)."""
    if not check.lookback_days:
        return None
    found = response.get("aggregations", {}).get("oldest", {})
    oldest = found.get("value")
    if oldest is None:
        return "never (no data)"
    if oldest > ms(window.start + timedelta(days=1)):
        return str(found.get("value_as_string") or oldest)
    return None


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
    short = _short_history(check, responses[-1], window)
    if failed and short:
        details["data_since"] = short
        return CheckOutcome(name, check.type, ControlStatus.insufficient_data,
                            f"{name}: data only since {short}, less than the "
                            f"{check.lookback_days:g}-day lookback (missing for "
                            f"{', '.join(silent[:10])})", evaluated, 0, details, ctx.queries)
    if failed:
        return CheckOutcome(name, check.type, ControlStatus.failed,
                            f"{name}: missing for {', '.join(silent[:10])}"
                            f"{' …' if len(silent) > 10 else ''}", evaluated, failed, details,
                            ctx.queries)
    return CheckOutcome(name, check.type, ControlStatus.passed,
                        f"{name}: present for all {len(expected)}", evaluated, 0, details,
                        ctx.queries)
