"""``threshold``: at least ``count`` events by group key inside ANY span of ``window``.

1. coarse: composite over the group keys on ``[start - window, end)``; keys with fewer events
   in that whole range cannot fire and are dropped;
2. precise, candidates only: one ``filters`` aggregation per batch of keys with a 1-second
   ``date_histogram`` (empty seconds omitted), then a sliding count in Python. Only spans that
   END inside ``[start, end)`` fire, so a span straddling two runs fires once, in the later run.
"""
from __future__ import annotations

import math

from ..compile import scope, keys_filter, base_query, bool_filter, composite_sources, key_filter, time_range
from .base import (COARSE_PAGE, PAGE, aggs, Ctx, Gen, Search, composite_all, drafts_from_fires, group_of,
                   sliding_counts, to_dt)

MAX_POINTS_PER_SEARCH = 20_000


def coarse_candidates(ctx: Ctx, need: int, extra_aggs: dict | None = None) -> Gen:
    rule = ctx.rule
    query = bool_filter(*scope(rule, ctx.start - rule.window, ctx.end))

    def body(after: dict | None) -> dict:
        comp: dict = {"size": COARSE_PAGE, "sources": composite_sources(rule.group_by)}
        if after:
            comp["after"] = after
        agg: dict = {"composite": comp}
        if extra_aggs:
            agg["aggs"] = extra_aggs
        return {"size": 0, "track_total_hits": False, "query": query, "aggs": {"g": agg}}

    if not rule.group_by:
        # one global key: a filter aggregation (a composite over _index would split by month)
        single = {"size": 0, "track_total_hits": False, "query": query,
                  "aggs": {"all": {"filter": {"match_all": {}}, **({"aggs": extra_aggs}
                                                                 if extra_aggs else {})}}}
        (response,) = yield [Search(rule.index, single)]
        bucket = {"key": {}, **(aggs(response).get("all") or {"doc_count": 0})}
        return single, [bucket] if bucket["doc_count"] >= need else []
    buckets = yield from composite_all(rule.index, body, page=COARSE_PAGE)
    return body(None), [b for b in buckets if b["doc_count"] >= need]


REFINE_BATCH = 100


def refine(ctx: Ctx, groups: list[tuple[dict, int]], need: float,
           metric: str | None = None) -> Gen:
    """Returns ``[(group, count, spans)]``: spans (epoch ms) where the key can fire, or None
    when the run is too short to refine."""
    """Second, tighter necessary condition on candidates: buckets of exactly ``window``
    aligned to the epoch; any span of ``window`` lies inside two adjacent buckets, so a key
    can fire only where the counts (or ``metric`` cardinalities) of two adjacent buckets sum to
    ``need``. One ``filters`` search per batch of keys, all in one round trip."""
    rule = ctx.rule
    width = int(rule.window.total_seconds())
    if not groups or (ctx.end - ctx.start + rule.window).total_seconds() <= 2 * width:
        return [(g, c, None) for g, c in groups]
    batches = [groups[i:i + REFINE_BATCH] for i in range(0, len(groups), REFINE_BATCH)]
    sub: dict = {"date_histogram": {"field": "@timestamp", "fixed_interval": f"{width}s",
                                    "min_doc_count": 1}}
    if metric is not None:
        sub["aggs"] = {"n": {"cardinality": {"field": metric,
                                             "precision_threshold": max(100, int(4 * need))}}}
    searches = [Search(rule.index, {
        "size": 0, "track_total_hits": False,
        "query": bool_filter(*scope(rule, ctx.start - rule.window, ctx.end),
                             keys_filter([g for g, _ in batch])),
        "aggs": {"keys": {"filters": {"filters": {
            f"c{i}": bool_filter(key_filter(g)) for i, (g, _) in enumerate(batch)}},
            "aggs": {"t": sub}}}}) for batch in batches]
    responses = yield searches
    keep = []
    for batch, response in zip(batches, responses, strict=True):
        keys = (aggs(response).get("keys") or {"buckets": {}})["buckets"]
        for i, (group, count) in enumerate(batch):
            slots = {b["key"]: (b["n"]["value"] if metric else b["doc_count"])
                     for b in (keys.get(f"c{i}") or {"t": {"buckets": []}})["t"]["buckets"]}
            passing = sorted(k for k, v in slots.items()
                             if v + slots.get(k + width * 1000, 0) >= need)
            if passing:
                keep.append((group, count, merge_spans(
                    [(k, k + 2 * width * 1000) for k in passing])))
    return keep


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def spans_clause(spans: list[tuple[int, int]] | None) -> list[dict]:
    """Only the time spans where a key can fire (every firing window lies inside one)."""
    if not spans:
        return []
    return [{"bool": {"should": [{"range": {"@timestamp": {"gte": lo, "lt": hi,
                                                           "format": "epoch_millis"}}}
                                 for lo, hi in spans], "minimum_should_match": 1}}]


def histograms(ctx: Ctx, groups: list[tuple[dict, int, list | None]]) -> Gen:
    """Per group: sorted (epoch seconds, count) points over ``[start - window, end)``."""
    rule = ctx.rule
    span = (ctx.end - ctx.start + rule.window).total_seconds()
    batches: list[list[tuple[dict, int, list | None]]] = []
    current: list[tuple[dict, int, list | None]] = []
    load = 0
    for group, count, spans in groups:
        if current and (load + count > MAX_POINTS_PER_SEARCH or len(current) >= 100):
            batches.append(current)
            current, load = [], 0
        current.append((group, count, spans))
        load += count
    if current:
        batches.append(current)
    searches = []
    resolutions = []
    for batch in batches:
        heaviest = max(c for _, c, _ in batch)
        resolution = 1 if heaviest <= MAX_POINTS_PER_SEARCH else math.ceil(
            span / MAX_POINTS_PER_SEARCH)
        resolutions.append(resolution)
        filters = {f"c{i}": bool_filter(key_filter(g), spans_clause(sp))
                   for i, (g, _, sp) in enumerate(batch)}
        searches.append(Search(rule.index, {
            "size": 0, "track_total_hits": False,
            "query": bool_filter(*scope(rule, ctx.start - rule.window, ctx.end),
                                 keys_filter([g for g, _, _ in batch])),
            "aggs": {"keys": {"filters": {"filters": filters}, "aggs": {"t": {"date_histogram": {
                "field": "@timestamp", "fixed_interval": f"{resolution}s",
                "min_doc_count": 1}}}}}}))
    if not searches:
        return []
    responses = yield searches
    out = []
    for batch, resolution, response in zip(batches, resolutions, responses, strict=True):
        keys = (aggs(response).get("keys") or {"buckets": {}})["buckets"]
        for i, (group, _, _) in enumerate(batch):
            found = keys.get(f"c{i}") or {"t": {"buckets": []}}
            points = [(b["key"] / 1000, b["doc_count"]) for b in found["t"]["buckets"]]
            out.append((group, points, resolution))
    return out


def run(ctx: Ctx) -> Gen:
    rule = ctx.rule
    assert rule.threshold is not None
    need = rule.threshold.count
    detection, candidates = yield from coarse_candidates(ctx, need)
    fields = rule.group_by or ()
    groups = [(group_of(b["key"], fields), b["doc_count"]) for b in candidates]
    groups = yield from refine(ctx, groups, need)
    series = yield from histograms(ctx, groups)
    drafts = []
    lo, hi = ctx.start.timestamp(), ctx.end.timestamp()
    for group, points, resolution in series:
        fires = sliding_counts(points, rule.window.total_seconds(), need, lo, hi)
        drafts.extend(drafts_from_fires(ctx, group, fires, detection, resolution))
    return drafts


__all__ = ["run", "coarse_candidates", "refine", "histograms", "spans_clause", "merge_spans",
           "to_dt"]
