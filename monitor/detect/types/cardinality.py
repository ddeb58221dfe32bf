"""``cardinality``: at least ``count`` distinct values of ``field`` by group inside ANY span of
``window`` (port scan: distinct destination ports per source; host sweep: distinct hosts).

1. coarse (``threshold.coarse_candidates``): keys with ``count`` events over
   ``[start - window, end)`` and a ``cardinality`` (explicit ``precision_threshold``) of at
   least 90 % of ``count`` (a margin for the estimate);
2. refinement (``threshold.refine``): the cardinality of the key's 2-window buckets at offsets
   0 and ``window``, one of which holds any span: only their spans where it reaches the bar go
   on (host sweep, 2M events: ~520 candidate keys an hour -> ~35);
3. precise, on those spans only: per candidate one composite of (1-second time, value) pairs,
   all candidates in one round trip (pages of 10,000, so each event is read once; pages of
   1,000 per candidate and segment were 656 of host sweep's 791 searches), and a sliding
   distinct count in Python.
"""
from __future__ import annotations

import math
from typing import Any

from ..compile import bool_filter, scope
from .base import (
    Ctx,
    Gen,
    cap_candidates,
    composite_all,
    drafts_from_fires,
    group_of,
    lockstep,
    mark_truncated,
    merge_width,
    sliding_distinct,
)
from .threshold import Candidate, coarse_candidates, refine, spans_by_key

#: composite page of (second, value) pairs: a candidate's events in its spans (an upper bound of
#: its pairs) nearly always fit in one
PAIRS_PAGE = 10_000
#: the name of that composite: the engine drops its buckets' ``doc_count`` from the response
PAIRS = "pairs"


def _pairs(ctx: Ctx, cand: Candidate) -> Gen:
    """Sorted (epoch seconds, value) points of one candidate, inside its spans. One search per
    candidate, all in one round trip: the key is not repeated in every bucket (measured on
    the 2M-event bench: 2.6 MB instead of 3.8 MB for one hour of host sweep, same ``took``)."""
    rule = ctx.rule
    assert rule.cardinality is not None
    query = bool_filter(*scope(rule, ctx.start - rule.window, ctx.end), spans_by_key([cand]))
    sources = [{"t": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1s"}}},
               {"v": {"terms": {"field": rule.cardinality.field}}}]

    def body(after: dict[str, Any] | None) -> dict[str, Any]:
        comp: dict[str, Any] = {"size": PAIRS_PAGE, "sources": sources}
        if after:
            comp["after"] = after
        return {"size": 0, "track_total_hits": False, "query": query,
                "aggs": {PAIRS: {"composite": comp}}}

    buckets = yield from composite_all(rule.index, body, PAIRS, page=PAIRS_PAGE)
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
    # every event with the field has one value of it (no arrays): then a bucket with ``need``
    # distinct values holds ``need`` events, and the refinement can skip smaller buckets
    one_each = {"values": {"value_count": {"field": params.field}},
                "with_field": {"filter": {"exists": {"field": params.field}}}}
    detection, buckets, whole = yield from coarse_candidates(ctx, params.count, extra, one_each)
    single = ((whole.get("values") or {}).get("value", 0)
              == (whole.get("with_field") or {}).get("doc_count", 0))
    candidates = [b for b in buckets if b["n"]["value"] >= params.count * 0.9]
    fields = rule.group_by or ()
    need = params.count * 0.9
    refined = yield from refine(ctx, [(group_of(b["key"], fields), b["doc_count"])
                                      for b in candidates], need, params.field,
                                math.ceil(need) if single else 1)
    refined, truncated = cap_candidates(ctx, refined, "candidate keys")
    series = yield from lockstep([_pairs(ctx, cand) for cand in refined])
    drafts = []
    lo, hi = ctx.start.timestamp(), ctx.end.timestamp()
    for cand, points in zip(refined, series, strict=True):
        fires = sliding_distinct(points, rule.window.total_seconds(), params.count, lo, hi,
                                 merge_width(ctx))
        drafts.extend(drafts_from_fires(ctx, cand.group, fires, detection))
    return mark_truncated(drafts, truncated)
