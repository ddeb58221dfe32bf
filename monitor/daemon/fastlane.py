"""The fast lane: cheap rule types evaluated every few seconds (``rules.fast_lane``).

Why by design and not a tighter cron: the engine already evaluates incrementally (each run
searches only ``[searched_to, now - delay)``) and a match/threshold/cardinality/sequence step
is one aggregation over that slice, so a 10 s interval costs about what a 5-minute interval
costs, spread out. Rules that need long history per step (new_terms, flatline, spike,
reconcile) keep their own schedule. Only the schedule changes: the rule's id, query, windows,
suppression and finding ids stay, so findings stay exactly-once.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from ..detect.schema import Rule
from ..settings import FastLane, Sources

__all__ = ["apply_fast_lane", "lane_enabled", "read_until"]

log = logging.getLogger(__name__)

#: the longest the rules wait for a receiver's backlog (spool replay, bulk retries); past it
#: they move on as before (a line arriving later than its rule's delay is then not judged
#: until the engine cursors on ingest time)
MAX_HORIZON_WAIT = timedelta(minutes=10)
_last_warning = 0.0


def read_until(horizons: Iterable[Callable[[], float | None]], now: datetime) -> datetime:
    """The "now" the engine may evaluate up to: the wall clock, held back to the oldest record
    an in-process receiver has taken in but that is not yet searchable (refresh-aware reads).
    With a rule's window ending at ``read_until - delay``, our own ingest lag never makes a
    rule pass over a line; the delay only has to cover lateness before the receiver."""
    global _last_warning
    marks = [mark for mark in (h() for h in horizons) if mark is not None]
    if not marks:
        return now
    horizon = datetime.fromtimestamp(min(marks), UTC)
    if horizon >= now:
        return now
    if now - horizon > MAX_HORIZON_WAIT:
        if time.monotonic() - _last_warning > 60:
            _last_warning = time.monotonic()
            log.warning("rules: a receiver's backlog is %s old (spool or bulk retries); "
                        "evaluating past it", now - horizon)
        return now
    return horizon


def lane_enabled(lane: FastLane, sources: Sources) -> bool:
    """Explicit setting, or (auto) on when only the syslog receiver feeds the events index:
    pulled and picked-up lines arrive later than the lane's delay (see ``FastLane``)."""
    if lane.enabled is not None:
        return lane.enabled
    return sources.syslog.enabled and not sources.checkpoint_api and not sources.files.paths


def apply_fast_lane(rules: Iterable[Rule], lane: FastLane, enabled: bool) -> list[Rule]:
    """Rules over events of the lane's types, with its interval and delay where those are
    shorter than their own."""
    out = []
    interval = timedelta(seconds=lane.interval_seconds)
    delay = timedelta(seconds=lane.delay_seconds)
    shortened = 0
    for rule in rules:
        schedule = rule.schedule
        if enabled and rule.type in lane.types and rule.index == "events" and (
                schedule.interval > interval or schedule.delay > delay):
            schedule = schedule.model_copy(update={"interval": min(schedule.interval, interval),
                                                   "delay": min(schedule.delay, delay)})
            rule = rule.model_copy(update={"schedule": schedule})
            shortened += 1
        out.append(rule)
    if shortened:
        log.info("fast lane: %d rules every %gs with a %gs delay", shortened,
                 lane.interval_seconds, lane.delay_seconds)
    return out
