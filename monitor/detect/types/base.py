"""What every rule type shares: the search/response protocol, drafts and sliding windows.

A rule type is a generator function ``run(ctx) -> Generator[list[Search], list[dict], list[Draft]]``:
it yields the searches it needs, receives their response bodies in the same order, and returns
finding drafts. Types do no I/O, so the engine can batch the searches of every due rule into one
``_msearch`` per step, and tests can drive a type with canned responses.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..schema import Rule

__all__ = ["Search", "Draft", "Ctx", "Gen", "lockstep", "composite_all", "group_of",
           "bucket_start", "sliding_counts", "sliding_distinct", "drafts_from_fires", "PAGE",
           "to_dt", "Fire", "aggs", "COARSE_PAGE"]

PAGE = 1000  # composite page size: pages, never a huge terms size
#: page size of the coarse candidate composites: every page re-reads the matching documents,
#: so fewer, larger pages of small buckets (a count, a low-precision cardinality) cost less
COARSE_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class Search:
    """One search: ``kind`` is an index kind (events, changes); ``eql`` marks an EQL request."""

    kind: str
    body: dict[str, Any]
    eql: bool = False


@dataclass(frozen=True, slots=True)
class Draft:
    """A finding before ids, metadata and exceptions are applied."""

    group: dict[str, Any]
    window_start: datetime
    window_end: datetime
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    #: (start, end) of the events behind the finding; None → no evidence search
    evidence_range: tuple[datetime, datetime] | None
    detection: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    sample_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Ctx:
    """One evaluation: ``rule`` over the run window ``[start, end)``."""

    rule: Rule
    start: datetime
    end: datetime
    eql: bool = False


Gen = Generator[list[Search], list[dict[str, Any]], Any]


def to_dt(value: Any) -> datetime:
    """Epoch millis (aggregation values) or ISO text → aware UTC datetime."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def bucket_start(moment: datetime, width: timedelta) -> datetime:
    """Start of the epoch-aligned bucket of ``width`` holding ``moment``."""
    w = int(width.total_seconds())
    ts = int(moment.timestamp())
    return datetime.fromtimestamp(ts - ts % w, UTC)


def group_of(key: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: key.get(f"k{i}") for i, f in enumerate(fields)}


def lockstep(gens: list[Gen]) -> Gen:
    """Drive several generators together: one combined yield per step; returns their results."""
    results: list[Any] = [None] * len(gens)
    pending: dict[int, list[Search]] = {}
    for i, gen in enumerate(gens):
        try:
            pending[i] = next(gen)
        except StopIteration as stop:
            results[i] = stop.value
    while pending:
        order = list(pending)
        batch = [s for i in order for s in pending[i]]
        responses = yield batch
        pos = 0
        nxt: dict[int, list[Search]] = {}
        for i in order:
            n = len(pending[i])
            try:
                nxt[i] = gens[i].send(responses[pos:pos + n])
            except StopIteration as stop:
                results[i] = stop.value
            pos += n
        pending = nxt
    return results


def aggs(response: dict[str, Any]) -> dict[str, Any]:
    """The aggregations of a response; none when no index matched (fresh install, no data)."""
    return response.get("aggregations") or {}


def composite_all(kind: str, body: Callable[[dict | None], dict[str, Any]],
                  name: str = "g", page: int = PAGE) -> Gen:
    """Page a composite aggregation named ``name`` (page size ``page``) to the end."""
    after: dict | None = None
    out: list[dict[str, Any]] = []
    while True:
        (response,) = yield [Search(kind, body(after))]
        agg = aggs(response).get(name) or {"buckets": []}
        out.extend(agg["buckets"])
        after = agg.get("after_key")
        if not after or len(agg["buckets"]) < page:
            return out


@dataclass(frozen=True, slots=True)
class Fire:
    """A sliding window that met the condition: it ends at ``at`` and began at ``since``."""

    since: float
    at: float
    value: int


def sliding_counts(points: list[tuple[float, int]], window: float, need: int,
                   lo: float, hi: float) -> list[Fire]:
    """Points (epoch seconds, count), sorted. Fires at every point ``t`` in ``[lo, hi)`` where
    the events in ``(t - window, t]`` number at least ``need``."""
    fires: list[Fire] = []
    total = 0
    left = 0
    for right, (t, c) in enumerate(points):
        total += c
        while points[left][0] <= t - window:
            total -= points[left][1]
            left += 1
        if total >= need and lo <= t < hi:
            fires.append(Fire(points[left][0], t, total))
    return fires


def sliding_distinct(points: list[tuple[float, Any]], window: float, need: int,
                     lo: float, hi: float) -> list[Fire]:
    """Points (epoch seconds, value), sorted by time. Fires where the distinct values in
    ``(t - window, t]`` number at least ``need``."""
    fires: list[Fire] = []
    counts: dict[Any, int] = {}
    queue: deque[tuple[float, Any]] = deque()
    for t, v in points:
        queue.append((t, v))
        counts[v] = counts.get(v, 0) + 1
        while queue[0][0] <= t - window:
            old_t, old_v = queue.popleft()
            counts[old_v] -= 1
            if not counts[old_v]:
                del counts[old_v]
        if len(counts) >= need and lo <= t < hi:
            fires.append(Fire(queue[0][0], t, len(counts)))
    return fires


def drafts_from_fires(ctx: Ctx, group: dict[str, Any], fires: list[Fire],
                      detection: dict[str, Any], resolution: float = 1.0) -> list[Draft]:
    """One draft per suppression bucket of the firing points (deterministic across runs)."""
    width = ctx.rule.suppress_window
    by_bucket: dict[datetime, list[Fire]] = {}
    for fire in fires:
        by_bucket.setdefault(bucket_start(datetime.fromtimestamp(fire.at, UTC), width),
                             []).append(fire)
    drafts = []
    for start, items in sorted(by_bucket.items()):
        first = datetime.fromtimestamp(items[0].since, UTC)
        last = datetime.fromtimestamp(items[-1].at, UTC)
        drafts.append(Draft(
            group=group, window_start=start, window_end=start + width,
            count=max(f.value for f in items), first_seen=first, last_seen=last,
            evidence_range=(first, last + timedelta(seconds=resolution)), detection=detection,
        ))
    return drafts
