"""The fast lane: cheap rule types evaluated every few seconds (``rules.fast_lane``).

Why by design and not a tighter cron: the engine already evaluates incrementally (each run
judges only the windows ending in ``[searched_to, now - delay)``, plus late documents through
its ingest-time cursor), and a match/threshold/cardinality/sequence step is a few aggregations
in one ``_msearch``. A step still re-reads each rule's window (1-10 minutes), so the lane costs
more Elasticsearch time than 5-minute runs: measured 0.45 s per 10 s step for the whole pack at
2,000 events/s, ~4.5 % of one core (docs/capacity.md: where this bends). Rules that need long
history per step (new_terms, flatline, spike, reconcile) keep their own schedule. Only the
schedule changes: the rule's id, query, windows, suppression and finding ids stay, so findings
stay exactly-once.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from ..detect.schema import Rule
from ..settings import FastLane

__all__ = ["apply_fast_lane", "read_until"]

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


def apply_fast_lane(rules: Iterable[Rule], lane: FastLane) -> list[Rule]:
    """Rules over events of the lane's types, with its interval and delay where those are
    shorter than their own."""
    out = []
    interval = timedelta(seconds=lane.interval_seconds)
    delay = timedelta(seconds=lane.delay_seconds)
    shortened = 0
    for rule in rules:
        schedule = rule.schedule
        if lane.enabled and rule.type in lane.types and rule.index == "events" and (
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
