"""``spike``: the count in the current ``window`` is at least ``factor`` times the average
count per ``window`` in the preceding ``reference`` span (and at least ``min_count``).

Checked at each ``interval`` step inside the run window. When ``window`` and ``reference`` are
multiples of ``interval`` (the usual case) one composite of (group, interval bucket) — buckets
aligned on the steps with an ``offset`` — answers every step; otherwise one composite per step
with two ``filters`` sub-aggregations (current, reference).

A reference is a reference only when it is whole: at least ``min_reference`` events, indexed
history reaching back over it (cold start, ``learning.py``), and — in the bucketed form — no
interval bucket of the reference empty for every group at once (an ingestion gap of the source,
not quiet traffic). ``direction: down`` finds the opposite: current ≤ expected / factor.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..compile import bool_filter, composite_sources, iso, scope, time_range
from ..schema import SpikeParams
from .base import (
    PAGE,
    Ctx,
    Draft,
    Gen,
    Search,
    aggs,
    bucket_start,
    composite_all,
    group_of,
    lockstep,
)
from .flatline import eval_points
from .learning import covered

#: one group at one step: (group, current count, reference count)
_Row = tuple[dict[str, Any], int, int]


def _per_step(ctx: Ctx, at: datetime) -> Gen:
    rule = ctx.rule
    p = rule.spike
    assert p is not None
    cur_start = at - p.window
    ref_start = cur_start - p.reference
    query = bool_filter(*scope(rule, ref_start, at))
    filters = {"filters": {"filters": {"cur": time_range(cur_start, at),
                                       "ref": time_range(ref_start, cur_start)}}}

    def body(after: dict[str, Any] | None) -> dict[str, Any]:
        comp: dict[str, Any] = {"size": PAGE, "sources": composite_sources(rule.group_by)}
        if after:
            comp["after"] = after
        return {"size": 0, "track_total_hits": False, "query": query,
                "aggs": {"g": {"composite": comp, "aggs": {"p": filters}}}}

    if not rule.group_by:
        single = {"size": 0, "track_total_hits": False, "query": query, "aggs": {"p": filters}}
        (response,) = yield [Search(rule.index, single)]
        found = aggs(response).get("p")
        if not found:  # no index matched yet (fresh install): no counts, not a crash
            return single, []
        return single, [({}, found["buckets"]["cur"]["doc_count"],
                         found["buckets"]["ref"]["doc_count"])]
    buckets = yield from composite_all(rule.index, body)
    return body(None), [(group_of(b["key"], rule.group_by), b["p"]["buckets"]["cur"]["doc_count"],
                         b["p"]["buckets"]["ref"]["doc_count"]) for b in buckets]


def _bucketed(ctx: Ctx, points: list[datetime]) -> Gen:
    """(detection body, {at: [(group, cur, ref)]}) from one composite over interval buckets."""
    rule = ctx.rule
    p = rule.spike
    assert p is not None
    step = int(rule.schedule.interval.total_seconds())
    offset = int(ctx.end.timestamp()) % step
    lo = points[0] - p.window - p.reference
    query = bool_filter(*scope(rule, lo, points[-1]))
    hist = {"date_histogram": {"field": "@timestamp", "fixed_interval": f"{step}s",
                               "offset": f"{offset}s"}}

    def body(after: dict[str, Any] | None) -> dict[str, Any]:
        comp: dict[str, Any] = {"size": PAGE,
                                "sources": composite_sources(rule.group_by) + [{"t": hist}]}
        if after:
            comp["after"] = after
        return {"size": 0, "track_total_hits": False, "query": query,
                "aggs": {"g": {"composite": comp}}}

    buckets = yield from composite_all(rule.index, body)
    series: dict[tuple[Any, ...], dict[float, int]] = {}
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for b in buckets:
        group = group_of(b["key"], rule.group_by)
        key = tuple(sorted(group.items()))
        groups[key] = group
        series.setdefault(key, {})[b["key"]["t"] / 1000] = b["doc_count"]
    n_cur, n_ref = p.window // rule.schedule.interval, p.reference // rule.schedule.interval
    overall: set[float] = {t for counts in series.values() for t, n in counts.items() if n}
    out: dict[datetime, list[_Row]] = {}
    for at in points:
        end = at.timestamp()
        rows: list[_Row] = []
        gap = any(end - step * (n_cur + i + 1) not in overall for i in range(n_ref))
        if gap:  # the source sent nothing at all in part of the reference: not a reference
            out[at] = []
            continue
        for key, counts in series.items():
            cur = sum(counts.get(end - step * (i + 1), 0) for i in range(n_cur))
            ref = sum(counts.get(end - step * (n_cur + i + 1), 0) for i in range(n_ref))
            rows.append((groups[key], cur, ref))
        out[at] = rows
    return body(None), out


def _spiking(p: SpikeParams, cur: int, baseline: float) -> bool:
    up = cur >= p.min_count and cur >= p.factor * baseline
    down = cur <= baseline / p.factor
    return {"up": up, "down": down, "both": up or down}[p.direction]


def run(ctx: Ctx) -> Gen:
    rule = ctx.rule
    p = rule.spike
    assert p is not None
    points = eval_points(ctx)
    interval = rule.schedule.interval
    if p.window % interval == timedelta(0) and p.reference % interval == timedelta(0):
        detection, per_point = yield from _bucketed(ctx, points)
        results = [(detection, per_point[at]) for at in points]
    else:
        results = yield from lockstep([_per_step(ctx, at) for at in points])
    ratio = p.window / p.reference
    width = rule.suppress_window
    drafts: dict[tuple[Any, ...], Draft] = {}
    for at, (detection, rows) in zip(points, results, strict=True):
        if not covered(ctx, at):
            continue
        for group, cur, ref in rows:
            baseline = ref * ratio
            if ref < p.min_reference or not _spiking(p, cur, baseline):
                continue
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
                       "direction": "up" if cur >= baseline else "down",
                       "evaluated_at": iso(at)})
    return list(drafts.values())
