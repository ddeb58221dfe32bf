"""``match``: every matching event counts; one finding per group key and suppression bucket.

One composite aggregation (group keys + an aligned date_histogram of the suppression width)
with min/max timestamps, paged; never the documents themselves.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..compile import bool_filter, composite_sources, interval, scope
from .base import (
    PAGE,
    Ctx,
    Draft,
    Gen,
    cap_candidates,
    composite_all,
    group_of,
    mark_truncated,
    to_dt,
)


def run(ctx: Ctx) -> Gen:
    rule = ctx.rule
    width = rule.suppress_window
    sources = composite_sources(rule.group_by) + [
        {"w": {"date_histogram": {"field": "@timestamp", "fixed_interval": interval(width)}}}]
    query = bool_filter(*scope(rule, ctx.start, ctx.end))
    limit = rule.max_findings + 1  # one more than allowed: enough to know it was a flood
    page = min(PAGE, limit)

    def body(after: dict[str, Any] | None) -> dict[str, Any]:
        comp: dict[str, Any] = {"size": page, "sources": sources}
        if after:
            comp["after"] = after
        return {"size": 0, "track_total_hits": False, "query": query,
                "aggs": {"g": {"composite": comp, "aggs": {
                    "first": {"min": {"field": "@timestamp"}},
                    "last": {"max": {"field": "@timestamp"}},
                    # evidence inline: no extra search per finding
                    "s": {"top_hits": {"size": 5, "_source": False,
                                       "sort": [{"@timestamp": "asc"}]}}}}}}

    buckets = yield from composite_all(rule.index, body, page=page, limit=limit)
    buckets, truncated = cap_candidates(ctx, buckets, "groups", partial=True)
    drafts = []
    for b in buckets:
        start = to_dt(b["key"]["w"])
        first, last = to_dt(b["first"]["value"]), to_dt(b["last"]["value"])
        drafts.append(Draft(group=group_of(b["key"], rule.group_by), window_start=start,
                            window_end=start + width, count=b["doc_count"], first_seen=first,
                            last_seen=last,
                            evidence_range=(max(first, ctx.start), last + timedelta(milliseconds=1)),
                            detection=body(None),
                            sample_ids=tuple(h["_id"] for h in b["s"]["hits"]["hits"])))
    return mark_truncated(drafts, truncated)
