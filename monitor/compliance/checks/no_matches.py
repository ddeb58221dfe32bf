"""``no_matches``: documents matching ``violation`` (inside the population) must be ≤ ``max``."""
from __future__ import annotations

from typing import Any

from ...model import ControlStatus
from ..controls import NoMatches
from ..queries import (
    FIRST_LAST,
    Period,
    bool_filter,
    iso,
    samples,
    substitute,
    time_range,
    window_of,
)
from .base import CheckOutcome, Judging, Request, empty, hit_ids, total


def requests(check: NoMatches, params: dict[str, Any], period: Period) -> list[Request]:
    window = window_of(check, period)
    violation = substitute(check.violation, params, period)
    inner: dict[str, Any] = dict(FIRST_LAST)
    if check.group_by:
        inner["groups"] = {
            "composite": {"size": 50, "sources": [
                {f: {"terms": {"field": f, "missing_bucket": True}}} for f in check.group_by]},
            "aggs": {**FIRST_LAST, **(samples(check.samples) if check.samples else {})}}
    elif check.samples:
        inner.update(samples(check.samples))
    query = substitute(check.query, params, period)
    return [(check.kind, {"query": bool_filter(time_range(window), query),
                          "aggs": {"violations": {"filter": violation, "aggs": inner}}})]


def judge(check: NoMatches, responses: list[dict[str, Any]], ctx: Judging) -> CheckOutcome:
    name, first = check.name, responses[0]
    window = window_of(check, ctx.period)
    population = total(first)
    violations = first.get("aggregations", {}).get("violations", {})
    count = int(violations.get("doc_count", 0))
    groups = [{"key": b["key"], "count": b["doc_count"],
               "first_seen": b.get("first_seen", {}).get("value_as_string"),
               "last_seen": b.get("last_seen", {}).get("value_as_string"),
               "samples": hit_ids(b.get("samples"))}
              for b in violations.get("groups", {}).get("buckets", [])]
    details = {"population": population, "violations": count, "max_allowed": check.max,
               "groups": groups, "samples": hit_ids(violations.get("samples")),
               "first_seen": violations.get("first_seen", {}).get("value_as_string"),
               "last_seen": violations.get("last_seen", {}).get("value_as_string"),
               "window": [iso(window.start), iso(window.end)]}
    if count > check.max:
        return CheckOutcome(name, check.type, ControlStatus.failed,
                            f"{name}: {count} violating document(s) of {population} "
                            f"(allowed {check.max})", population, count, details, ctx.queries)
    if population == 0:
        return empty(check, "nothing to evaluate in the window", details, ctx)
    return CheckOutcome(name, check.type, ControlStatus.passed,
                        f"{name}: 0 violations in {population} document(s)", population, count,
                        details, ctx.queries)
