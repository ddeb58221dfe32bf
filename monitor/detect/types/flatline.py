"""``flatline``: a group (a gateway, a log source, a repository) that sent events within
``history`` has been silent for at least ``window``.

Evaluated at each ``interval`` step inside the run window (a backfill checks every step): one
composite per step over the group keys with the last event time. A silence episode is keyed by
the last event seen, so it yields one finding however many runs observe it.
"""
from __future__ import annotations

from datetime import timedelta

from ..compile import scope, base_query, bool_filter, composite_sources, time_range
from .base import PAGE, Ctx, Draft, Gen, composite_all, group_of, lockstep, to_dt

MAX_STEPS = 48


def eval_points(ctx: Ctx) -> list:
    step = ctx.rule.schedule.interval
    points = []
    t = ctx.end
    while t > ctx.start and len(points) < MAX_STEPS:
        points.append(t)
        t -= step
    return sorted(points)


def _at(ctx: Ctx, at) -> Gen:
    rule = ctx.rule
    assert rule.flatline is not None
    query = bool_filter(*scope(rule, at - rule.flatline.history, at))

    def body(after: dict | None) -> dict:
        comp: dict = {"size": PAGE, "sources": composite_sources(rule.group_by, missing=False)}
        if after:
            comp["after"] = after
        return {"size": 0, "track_total_hits": False, "query": query,
                "aggs": {"g": {"composite": comp, "aggs": {
                    "last": {"max": {"field": "@timestamp"}}}}}}

    buckets = yield from composite_all(rule.index, body)
    return body(None), buckets


def run(ctx: Ctx) -> Gen:
    rule = ctx.rule
    assert rule.flatline is not None
    points = eval_points(ctx)
    results = yield from lockstep([_at(ctx, at) for at in points])
    drafts: dict[tuple, Draft] = {}
    for at, (detection, buckets) in zip(points, results, strict=True):
        for b in buckets:
            last = to_dt(b["last"]["value"])
            if at - last < rule.flatline.window:
                continue
            group = group_of(b["key"], rule.group_by)
            key = (tuple(sorted(group.items())), last)
            silent = at - last
            drafts[key] = Draft(
                group=group, window_start=last, window_end=last + rule.flatline.window,
                count=0, first_seen=last, last_seen=last, evidence_range=None,
                detection=detection,
                extra={"silent_seconds": int(silent.total_seconds()), "observed_at": at.isoformat(),
                       "last_event": last.isoformat()})
    return list(drafts.values())


__all__ = ["run", "timedelta"]
