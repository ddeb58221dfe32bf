"""``new_terms``: a combination of ``fields`` values never seen in ``history`` before.

The baseline is the indexed history itself (persisted in Elasticsearch, so a restart cannot
flood alerts): one composite over the term fields on ``[start - history, end)`` with the first
time each combination was seen; combinations first seen inside ``[start, end)`` are new —
provided the index holds the whole ``history`` before that first sighting (``types/learning.py``):
on a fresh install every combination is "first seen", which says nothing.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..compile import bool_filter, composite_sources, scope
from .base import PAGE, Ctx, Draft, Gen, bucket_start, composite_all, group_of, to_dt
from .learning import covered


def run(ctx: Ctx) -> Gen:
    rule = ctx.rule
    params = rule.new_terms
    assert params is not None
    query = bool_filter(*scope(rule, ctx.start - params.history, ctx.end))

    def body(after: dict[str, Any] | None) -> dict[str, Any]:
        comp: dict[str, Any] = {"size": PAGE,
                                "sources": composite_sources(params.fields, missing=False)}
        if after:
            comp["after"] = after
        return {"size": 0, "track_total_hits": False, "query": query,
                "aggs": {"g": {"composite": comp, "aggs": {
                    "first": {"min": {"field": "@timestamp"}}}}}}

    buckets = yield from composite_all(rule.index, body)
    width = rule.suppress_window
    drafts = []
    for b in buckets:
        first = to_dt(b["first"]["value"])
        if not ctx.start <= first < ctx.end or not covered(ctx, first):
            continue
        start = bucket_start(first, width)
        drafts.append(Draft(group=group_of(b["key"], params.fields), window_start=start,
                            window_end=start + width, count=1, first_seen=first,
                            last_seen=first,
                            evidence_range=(first, first + timedelta(milliseconds=1)),
                            detection=body(None), extra={"history": str(params.history)}))
    return drafts
