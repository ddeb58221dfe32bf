"""``threshold``: at least ``count`` events by group key inside ANY span of ``window``.

1. coarse (:func:`coarse_candidates`): keys with ``count`` events over ``[start - window, end)``
   (a ``terms`` aggregation with ``min_doc_count``, or composite pages); the others cannot fire;
2. refinement (:func:`refine`): only the spans of the key's 2-window buckets that hold
   ``count`` events go on;
3. precise, candidates only: per batch of keys, one aggregation per key (:func:`keyed_agg`)
   with a 1-second ``date_histogram`` of those spans (empty seconds omitted), then a sliding
   count in Python. Only spans that END inside ``[start, end)`` fire, so a span straddling two
   runs fires once, in the later run.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

from ..compile import bool_filter, composite_sources, key_filter, keys_filter, scope
from .base import (
    COARSE_PAGE,
    Ctx,
    Gen,
    Search,
    aggs,
    cap_candidates,
    drafts_from_fires,
    group_of,
    keyed_agg,
    keyed_buckets,
    mark_truncated,
    merge_width,
    sliding_counts,
    to_dt,
)

MAX_POINTS_PER_SEARCH = 20_000


#: keys one coarse ``terms`` search may return; a longer list goes to the composite pages
COARSE_TERMS = 10_000


def coarse_candidates(ctx: Ctx, need: int, extra_aggs: dict[str, Any] | None = None,
                      run_aggs: dict[str, Any] | None = None) -> Gen:
    """Keys with at least ``need`` events over ``[start - window, end)``, each with
    ``extra_aggs``; returns ``(detection body, key buckets, run_aggs results)``, ``run_aggs``
    being computed once over the whole run. One key field: a ``terms`` aggregation with
    ``min_doc_count`` returns only those keys (host sweep, one hour of the 2M-event bench: 2,532
    of 19,656 sources, 0.14 MB in one search instead of 1.2 MB over two composite pages that
    each read every event), plus a ``filter`` for events without the field (the composite's
    missing bucket). When that list may be incomplete (as long as its size, or a shard cut its
    own: an error bound) or a key is not text (booleans, dates and numbers read back
    differently), the composite pages every key as before."""
    rule = ctx.rule
    query = bool_filter(*scope(rule, ctx.start - rule.window, ctx.end))
    sub = {"aggs": extra_aggs} if extra_aggs else {}
    top = run_aggs or {}

    def body(after: dict[str, Any] | None) -> dict[str, Any]:
        comp: dict[str, Any] = {"size": COARSE_PAGE, "sources": composite_sources(rule.group_by)}
        if after:
            comp["after"] = after
        return {"size": 0, "track_total_hits": False, "query": query,
                "aggs": {"g": {"composite": comp, **sub}, **({} if after else top)}}

    if not rule.group_by:
        # one global key: a filter aggregation (a composite over _index would split by month)
        single = {"size": 0, "track_total_hits": False, "query": query,
                  "aggs": {"all": {"filter": {"match_all": {}}, **sub}, **top}}
        (response,) = yield [Search(rule.index, single)]
        found = aggs(response)
        bucket = {"key": {}, **(found.get("all") or {"doc_count": 0})}
        return single, [bucket] if bucket["doc_count"] >= need else [], found
    if len(rule.group_by) == 1:
        field = rule.group_by[0]
        terms = {"size": 0, "track_total_hits": False, "query": query, "aggs": {
            "g": {"terms": {"field": field, "size": COARSE_TERMS, "min_doc_count": need}, **sub},
            "none": {"filter": {"bool": {"must_not": [{"exists": {"field": field}}]}}, **sub},
            **top}}
        (response,) = yield [Search(rule.index, terms)]
        found = aggs(response)
        listed = found.get("g") or {"buckets": []}
        if (len(listed["buckets"]) < COARSE_TERMS and not listed.get("doc_count_error_upper_bound")
                and all(isinstance(b["key"], str) for b in listed["buckets"])):
            none = found.get("none") or {"doc_count": 0}
            keys = [{**none, "key": {"k0": None}}] if none["doc_count"] >= need else []
            return terms, keys + [{**b, "key": {"k0": b["key"]}} for b in listed["buckets"]], found
    buckets: list[dict[str, Any]] = []
    found = {}
    after: dict[str, Any] | None = None
    while True:  # composite_all, keeping the first page's run_aggs
        (response,) = yield [Search(rule.index, body(after))]
        page = aggs(response)
        if after is None:
            found = page
        agg = page.get("g") or {"buckets": []}
        buckets.extend(agg["buckets"])
        after = agg.get("after_key")
        if not after or len(agg["buckets"]) < COARSE_PAGE:
            return body(None), [b for b in buckets if b["doc_count"] >= need], found


#: buckets per refinement search (a response over ``search.max_buckets``, 65,536 by default,
#: is refused): candidates are batched by how many ``window`` buckets each can have
REFINE_BUCKETS = 20_000


class Candidate(NamedTuple):
    """A key that may fire, with its ``events`` over the run: ``spans`` (epoch ms) hold every
    window where it can (None: anywhere in the run). Not ``count``: that is tuple's method."""

    group: dict[str, Any]
    events: int
    spans: list[tuple[int, int]] | None


def refine(ctx: Ctx, groups: list[tuple[dict[str, Any], int]], need: float,
           metric: str | None = None, min_events: int = 1) -> Gen:
    """Second, tighter necessary condition on candidates. Any span of ``window`` (W) lies
    inside one epoch-aligned bucket of 2W of the histogram at offset 0 or of the one at offset
    W, so a key can fire only inside such a bucket whose count (or ``metric`` cardinality, which
    bounds the distinct values of any span inside it) reaches ``need``. For counts this is the
    sum of two adjacent W buckets; for distinct values it is much tighter than that sum (a
    source's usual servers appear in both): host sweep on the 2M-event bench reads 42k instead
    of 57k (second, value) pairs an hour, for the same search cost. One search per batch of
    keys (:func:`keyed_agg`), all in one round trip; buckets with fewer than ``min_events``
    events (that cannot reach ``need``) are not returned (host sweep: 0.9 instead of 5.4 MB).
    Returns ``[Candidate]``; spans None when the run is too short to refine."""
    rule = ctx.rule
    width = int(rule.window.total_seconds())
    length = (ctx.end - ctx.start + rule.window).total_seconds()
    if not groups or length <= 2 * width:
        return [Candidate(g, c, None) for g, c in groups]
    per_search = max(1, REFINE_BUCKETS // (math.ceil(length / width) + 2))
    batches = [groups[i:i + per_search] for i in range(0, len(groups), per_search)]
    metric_aggs = {"aggs": {"n": {"cardinality": {
        "field": metric, "precision_threshold": max(100, int(4 * need))}}}} if metric else {}
    sub = {name: {"date_histogram": {"field": "@timestamp", "fixed_interval": f"{2 * width}s",
                                     "offset": f"{offset}s", "min_doc_count": min_events},
                  **metric_aggs}
           for name, offset in (("a", 0), ("b", width))}
    searches = [Search(rule.index, {
        "size": 0, "track_total_hits": False,
        "query": bool_filter(*scope(rule, ctx.start - rule.window, ctx.end),
                             keys_filter([g for g, _ in batch])),
        "aggs": {"keys": keyed_agg([g for g, _ in batch], sub)}}) for batch in batches]
    responses = yield searches
    keep = []
    span = 2 * width * 1000
    for batch, response in zip(batches, responses, strict=True):
        found = keyed_buckets([g for g, _ in batch], aggs(response).get("keys"))
        for (group, count), bucket in zip(batch, found, strict=True):
            passing = merge_spans([(b["key"], b["key"] + span) for name in ("a", "b")
                                   for b in (bucket[name]["buckets"] if bucket else [])
                                   if (b["n"]["value"] if metric else b["doc_count"]) >= need])
            if passing:
                keep.append(Candidate(group, count, passing))
    return keep


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def spans_clause(spans: list[tuple[int, int]] | None) -> list[dict[str, Any]]:
    """Only the time spans where a key can fire (every firing window lies inside one)."""
    if not spans:
        return []
    return [{"bool": {"should": [{"range": {"@timestamp": {"gte": lo, "lt": hi,
                                                           "format": "epoch_millis"}}}
                                 for lo, hi in spans], "minimum_should_match": 1}}]


def spans_by_key(cands: list[Candidate]) -> list[dict[str, Any]]:
    """The candidates' documents, each only inside its own spans (one ``terms`` query when no
    candidate has spans)."""
    keys = keys_filter([c.group for c in cands])
    if all(not c.spans for c in cands):
        return [keys]
    return [keys, {"bool": {"should": [bool_filter(key_filter(c.group), spans_clause(c.spans))
                                       for c in cands], "minimum_should_match": 1}}]


def histograms(ctx: Ctx, groups: list[Candidate]) -> Gen:
    """Per group: sorted (epoch seconds, count) points over ``[start - window, end)``."""
    rule = ctx.rule
    span = (ctx.end - ctx.start + rule.window).total_seconds()
    batches: list[list[Candidate]] = []
    current: list[Candidate] = []
    load = 0
    for cand in groups:
        if current and (load + cand.events > MAX_POINTS_PER_SEARCH or len(current) >= 100):
            batches.append(current)
            current, load = [], 0
        current.append(cand)
        load += cand.events
    if current:
        batches.append(current)
    searches = []
    resolutions = []
    for batch in batches:
        heaviest = max(c.events for c in batch)
        resolution = 1 if heaviest <= MAX_POINTS_PER_SEARCH else math.ceil(
            span / MAX_POINTS_PER_SEARCH)
        resolutions.append(resolution)
        searches.append(Search(rule.index, {
            "size": 0, "track_total_hits": False,
            "query": bool_filter(*scope(rule, ctx.start - rule.window, ctx.end),
                                 spans_by_key(batch)),
            "aggs": {"keys": keyed_agg([c.group for c in batch], {"t": {"date_histogram": {
                "field": "@timestamp", "fixed_interval": f"{resolution}s",
                "min_doc_count": 1}}})}}))
    if not searches:
        return []
    responses = yield searches
    out = []
    for batch, resolution, response in zip(batches, resolutions, responses, strict=True):
        found = keyed_buckets([c.group for c in batch], aggs(response).get("keys"))
        for cand, bucket in zip(batch, found, strict=True):
            points = [(b["key"] / 1000, b["doc_count"])
                      for b in (bucket["t"]["buckets"] if bucket else [])]
            out.append((cand.group, points, resolution))
    return out


def run(ctx: Ctx) -> Gen:
    rule = ctx.rule
    assert rule.threshold is not None
    need = rule.threshold.count
    detection, candidates, _ = yield from coarse_candidates(ctx, need)
    fields = rule.group_by or ()
    keyed = [(group_of(b["key"], fields), b["doc_count"]) for b in candidates]
    groups: list[Candidate] = yield from refine(ctx, keyed, need, min_events=need)
    groups, truncated = cap_candidates(ctx, groups, "candidate keys")
    series = yield from histograms(ctx, groups)
    drafts = []
    lo, hi = ctx.start.timestamp(), ctx.end.timestamp()
    for group, points, resolution in series:
        fires = sliding_counts(points, rule.window.total_seconds(), need, lo, hi,
                               merge_width(ctx))
        drafts.extend(drafts_from_fires(ctx, group, fires, detection, resolution))
    return mark_truncated(drafts, truncated)


__all__ = [
    "Candidate",
    "coarse_candidates",
    "histograms",
    "merge_spans",
    "refine",
    "run",
    "spans_by_key",
    "spans_clause",
    "to_dt",
]
