"""``flatline``: a group (a gateway, a log source, a repository) that sent events within
``history`` has been silent for at least ``window``.

Checked at each ``interval`` step inside the run window (a backfill checks every step) with two
searches per run, whatever the number of steps:

1. the groups known before the run: composite over ``[start - history, start)`` with the last
   event time per group (the indexed history is the baseline, so a restart forgets nothing);
2. the recent activity: composite of (group, time bucket) over ``[start - window, end)`` at a
   resolution of ``min(60 s, window / 10)``; a bucket counts as its END (a silence is never
   overstated).

A silence episode is keyed by the last event seen, so it yields one finding however many runs
or steps observe it; when the data already shows the group back, the finding says when the
silence ended (``silence_ended``, else ``ongoing: true``). Every step of the run window is
checked, whatever the interval (a backfill segment of an hour at 30 s is 120 steps: cheap, the
steps are evaluated over the two composites in memory). A step whose ``history`` is not indexed
yet is not judged (cold start, ``learning.py``).
"""
from __future__ import annotations

import bisect
from datetime import UTC, datetime, timedelta
from typing import Any

from ..compile import bool_filter, composite_sources, scope
from .base import PAGE, Ctx, Draft, Gen, composite_all, group_of, lockstep, to_dt
from .learning import covered


def eval_points(ctx: Ctx) -> list[datetime]:
    """Every ``interval`` step of the run window, aligned on its end (all of them: a cap here
    once left the start of long segments unjudged)."""
    step = ctx.rule.schedule.interval
    points = []
    t = ctx.end
    while t > ctx.start:
        points.append(t)
        t -= step
    return sorted(points)


def run(ctx: Ctx) -> Gen:
    rule = ctx.rule
    p = rule.flatline
    assert p is not None
    fields = rule.group_by
    resolution = max(1, min(60, int(p.window.total_seconds() // 10)))
    hist_query = bool_filter(*scope(rule, ctx.start - p.history, ctx.start))
    recent_query = bool_filter(*scope(rule, ctx.start - p.window, ctx.end))

    def known(after: dict[str, Any] | None) -> dict[str, Any]:
        comp: dict[str, Any] = {"size": PAGE, "sources": composite_sources(fields, missing=False)}
        if after:
            comp["after"] = after
        return {"size": 0, "track_total_hits": False, "query": hist_query,
                "aggs": {"g": {"composite": comp, "aggs": {
                    "last": {"max": {"field": "@timestamp"}}}}}}

    def recent(after: dict[str, Any] | None) -> dict[str, Any]:
        comp: dict[str, Any] = {"size": PAGE, "sources": composite_sources(
            fields, missing=False) + [{"t": {"date_histogram": {
                "field": "@timestamp", "fixed_interval": f"{resolution}s"}}}]}
        if after:
            comp["after"] = after
        return {"size": 0, "track_total_hits": False, "query": recent_query,
                "aggs": {"g": {"composite": comp}}}

    before, during = yield from lockstep([composite_all(rule.index, known),
                                          composite_all(rule.index, recent)])
    last_before: dict[tuple[Any, ...], datetime] = {}
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for b in before:
        group = group_of(b["key"], fields)
        key = tuple(sorted(group.items()))
        groups[key] = group
        # the same bucket-end rounding as the recent buckets: one episode, one id, whichever
        # search saw its last event
        exact = to_dt(b["last"]["value"]).timestamp()
        last_before[key] = datetime.fromtimestamp(exact - exact % resolution + resolution, UTC)
    times: dict[tuple[Any, ...], list[float]] = {}
    for b in during:
        group = group_of(b["key"], fields)
        key = tuple(sorted(group.items()))
        groups.setdefault(key, group)
        times.setdefault(key, []).append(b["key"]["t"] / 1000 + resolution)
    for series in times.values():
        series.sort()
    drafts: dict[tuple[Any, ...], Draft] = {}
    for at in eval_points(ctx):
        if not covered(ctx, at):
            continue
        for key, group in groups.items():
            series = times.get(key, [])
            upto = bisect.bisect_right(series, at.timestamp())
            recent_last = series[upto - 1] if upto else None
            if recent_last is not None:
                last = datetime.fromtimestamp(recent_last, UTC)
            elif key in last_before:
                last = last_before[key]
            else:
                continue  # first seen after this step: not yet expected
            if at - last < p.window or at - last > p.history:
                continue
            if (key, last) in drafts:
                continue  # the episode is already known from an earlier step
            after = bisect.bisect_right(series, last.timestamp())
            extra: dict[str, Any] = {"silent_seconds": int((at - last).total_seconds()),
                           "observed_at": at.isoformat(), "last_event": last.isoformat()}
            if after < len(series):  # a bucket END: the first event came before it
                back = datetime.fromtimestamp(series[after] - resolution, UTC)
                extra["silence_ended"] = max(back, last).isoformat()
            else:
                extra["ongoing"] = True
            drafts[(key, last)] = Draft(
                group=group, window_start=last, window_end=last + p.window, count=0,
                first_seen=last, last_seen=last, evidence_range=None,
                detection={"known": known(None), "recent": recent(None)}, extra=extra)
    return list(drafts.values())


__all__ = ["bisect", "eval_points", "run", "timedelta"]
