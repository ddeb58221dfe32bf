"""``spike``: the count in the current ``window`` is at least ``factor`` times the average
count per ``window`` in the preceding ``reference`` span (and at least ``min_count``).

Evaluated at each ``interval`` step inside the run window: per step one composite over the
group keys with two ``filters`` sub-aggregations (current, reference).
"""
from __future__ import annotations

from ..compile import scope, base_query, bool_filter, composite_sources, iso, time_range
from datetime import timedelta

from .base import (PAGE, aggs, Ctx, Draft, Gen, Search, bucket_start, composite_all, group_of,
                   lockstep)
from .flatline import eval_points


def _at(ctx: Ctx, at) -> Gen:
    rule = ctx.rule
    p = rule.spike
    assert p is not None
    cur_start = at - p.window
    ref_start = cur_start - p.reference
    query = bool_filter(*scope(rule, ref_start, at))

    def body(after: dict | None) -> dict:
        comp: dict = {"size": PAGE, "sources": composite_sources(rule.group_by)}
        if after:
            comp["after"] = after
        return {"size": 0, "track_total_hits": False, "query": query,
                "aggs": {"g": {"composite": comp, "aggs": {"p": {"filters": {"filters": {
                    "cur": time_range(cur_start, at), "ref": time_range(ref_start, cur_start)}}}}}}}

    if not rule.group_by:
        single = {"size": 0, "track_total_hits": False, "query": query, "aggs": {"p": {
            "filters": {"filters": {"cur": time_range(cur_start, at),
                                    "ref": time_range(ref_start, cur_start)}}}}}
        (response,) = yield [Search(rule.index, single)]
        found = aggs(response).get("p")
        return single, [{"key": {}, "p": found}] if found else []
    buckets = yield from composite_all(rule.index, body)
    return body(None), buckets


def run(ctx: Ctx) -> Gen:
    rule = ctx.rule
    p = rule.spike
    assert p is not None
    points = eval_points(ctx)
    results = yield from lockstep([_at(ctx, at) for at in points])
    ratio = p.window / p.reference
    width = rule.suppress_window
    drafts: dict[tuple, Draft] = {}
    for at, (detection, buckets) in zip(points, results, strict=True):
        for b in buckets:
            cur = b["p"]["buckets"]["cur"]["doc_count"]
            ref = b["p"]["buckets"]["ref"]["doc_count"]
            baseline = ref * ratio
            if cur < p.min_count or cur < p.factor * baseline:
                continue
            group = group_of(b["key"], rule.group_by) if rule.group_by else {}
            start = bucket_start(at - timedelta(milliseconds=1), width)
            key = (tuple(sorted(group.items())), start)
            if key in drafts and drafts[key].count >= cur:
                continue
            drafts[key] = Draft(
                group=group, window_start=start, window_end=start + width, count=cur,
                first_seen=at - p.window, last_seen=at, evidence_range=(at - p.window, at),
                detection=detection,
                extra={"reference_count": ref, "expected_per_window": round(baseline, 2),
                       "factor": round(cur / baseline, 2) if baseline else None,
                       "evaluated_at": iso(at)})
    return list(drafts.values())
