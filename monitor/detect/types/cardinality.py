"""``cardinality``: at least ``count`` distinct values of ``field`` by group inside ANY span of
``window`` (port scan: distinct destination ports per source; host sweep: distinct hosts).

1. coarse: composite over group keys on ``[start - window, end)`` with a ``cardinality``
   sub-aggregation (explicit ``precision_threshold``; keys clearly below the bar are dropped,
   with a 10 % margin for the estimate);
2. precise, candidates only: a composite of (1-second time, value) pairs per key, paged, and a
   sliding distinct count in Python.
"""
from __future__ import annotations

from ..compile import scope, base_query, bool_filter, key_filter, time_range
from .base import (PAGE, Ctx, Gen, composite_all, drafts_from_fires, group_of, lockstep,
                   sliding_distinct)
from .threshold import coarse_candidates, refine, spans_clause


def _pairs(ctx: Ctx, group: dict, spans: list | None) -> Gen:
    rule = ctx.rule
    assert rule.cardinality is not None
    query = bool_filter(*scope(rule, ctx.start - rule.window, ctx.end),
                        key_filter(group), spans_clause(spans))

    def body(after: dict | None) -> dict:
        comp: dict = {"size": PAGE, "sources": [
            {"t": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1s"}}},
            {"v": {"terms": {"field": rule.cardinality.field}}}]}
        if after:
            comp["after"] = after
        return {"size": 0, "track_total_hits": False, "query": query,
                "aggs": {"g": {"composite": comp}}}

    buckets = yield from composite_all(rule.index, body)
    return [(b["key"]["t"] / 1000, b["key"]["v"]) for b in buckets]


def run(ctx: Ctx) -> Gen:
    rule = ctx.rule
    params = rule.cardinality
    assert params is not None
    # coarse stage: only needs to tell "clearly below count" apart; below its precision
    # threshold HyperLogLog++ is near-exact, so a small one (cheap per bucket) is enough
    coarse_precision = min(params.precision_threshold, max(100, 4 * params.count))
    extra = {"n": {"cardinality": {"field": params.field,
                                   "precision_threshold": coarse_precision}}}
    detection, buckets = yield from coarse_candidates(ctx, params.count, extra)
    candidates = [b for b in buckets if b["n"]["value"] >= params.count * 0.9]
    fields = rule.group_by or ()
    refined = yield from refine(ctx, [(group_of(b["key"], fields), b["doc_count"])
                                      for b in candidates], params.count * 0.9, params.field)
    groups = [g for g, _, _ in refined]
    series = yield from lockstep([_pairs(ctx, g, spans) for g, _, spans in refined])
    drafts = []
    lo, hi = ctx.start.timestamp(), ctx.end.timestamp()
    for group, points in zip(groups, series, strict=True):
        fires = sliding_distinct(points, rule.window.total_seconds(), params.count, lo, hi)
        drafts.extend(drafts_from_fires(ctx, group, fires, detection))
    return drafts
