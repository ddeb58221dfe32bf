"""Driving the pure rule types: every step of every due rule as one ``_msearch``.

``search_round(items, store, stats, cache)`` runs one segment of several rules in lockstep
(each rule's searches batched with the others' per step); ``rounds(...)`` keeps up to
``ROUNDS_IN_FLIGHT`` of them in flight. A refused search or an exception fails that rule only
(``RuleSearchError`` or the exception is its result). Moved out of ``engine.py``, which keeps
windows, commits and findings.
"""
from __future__ import annotations

import asyncio
import gc
from collections import deque
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from ..errors import MonitorError
from ..store import Store
from ..store.search import SearchStats, eql_search, msearch
from .compile import evidence_body
from .schema import Rule
from .types import RUNNERS
from .types.base import Ctx, Draft, Gen, Search, lockstep, mark_truncated
from .types.cardinality import PAIRS
from .types.learning import history_span, oldest_gen

__all__ = ["RESPONSE_FILTER", "ROUNDS_IN_FLIGHT", "Drafts", "Results", "Round", "RuleSearchError",
           "rounds", "rule_gen", "search_round"]

#: parts of the responses no rule type reads, left out by Elasticsearch: ``key_as_string`` of
#: every date histogram bucket, ``doc_count`` of the (second, value) composites. Serializing,
#: sending and parsing responses is outside Elasticsearch's ``took`` and costs ~80 ms per MB
#: here (2-core bench machine); these were a fifth of the backfill's bytes
RESPONSE_FILTER = f"-**.key_as_string,-**.{PAIRS}.buckets.doc_count"


_gc_pause: dict[str, Any] = {"depth": 0, "was_enabled": True}


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Automatic (cyclic) garbage collection off while rules search. Parsing and walking large
    aggregation responses makes hundreds of thousands of acyclic objects, and every full
    collection they trigger rescans the whole heap: on the 2M-event bench backfill this halves
    the engine's CPU time (2.1 s -> 1.1 s). Reference counting still frees all of them; cyclic
    garbage of other tasks waits until the last overlapping evaluation ends (depth count)."""
    if _gc_pause["depth"] == 0:
        _gc_pause["was_enabled"] = gc.isenabled()
        gc.disable()
    _gc_pause["depth"] += 1
    try:
        yield
    finally:
        _gc_pause["depth"] -= 1
        if _gc_pause["depth"] == 0 and _gc_pause["was_enabled"]:
            gc.enable()


async def _drive(gen: Gen, store: Store, stats: SearchStats) -> Any:
    """Run a (lockstep) generator: each yield is one ``_msearch`` (EQL searches go singly)."""
    with _gc_paused():
        return await _drive_steps(gen, store, stats)


async def _drive_steps(gen: Gen, store: Store, stats: SearchStats) -> Any:
    try:
        batch = next(gen)
    except StopIteration as stop:
        return stop.value
    while True:
        responses: list[dict[str, Any]] = [{}] * len(batch)
        plain = [(i, s) for i, s in enumerate(batch) if not s.eql]
        if plain:
            got = await msearch(store, [(s.kind, s.body) for _, s in plain], stats,
                                raise_errors=False, filter_path=RESPONSE_FILTER)
            for (i, _), body in zip(plain, got, strict=True):
                responses[i] = body
        for i, s in enumerate(batch):
            if s.eql:
                try:
                    responses[i] = await eql_search(store, s.kind, s.body, stats)
                except MonitorError as exc:
                    responses[i] = {"error": {"type": "eql", "reason": str(exc)}}
        try:
            batch = gen.send(responses)
        except StopIteration as stop:
            return stop.value


class RuleSearchError(MonitorError):
    """Elasticsearch refused one of a rule's searches (e.g. a Lucene syntax error)."""


def _guard(gen: Gen) -> Gen:
    """Run one rule's generator; a refused search or an exception fails that rule only."""
    try:
        batch = next(gen)
        while True:
            responses = yield batch
            for response in responses:
                if "error" in response:
                    error = response["error"]
                    cause = (error.get("caused_by") or {}).get("reason") or ""
                    root = ((error.get("root_cause") or [{}])[0] or {}).get("reason") or ""
                    return RuleSearchError(f"search refused: {error.get('type', '')} "
                                           f"{error.get('reason', '')} {cause or root}".strip())
            batch = gen.send(responses)
    except StopIteration as stop:
        return stop.value
    except Exception as exc:  # noqa: BLE001 - reported per rule
        return exc


def _evidence(rule: Rule, drafts: list[Draft]) -> Gen:
    need = [d.evidence_range is not None and not d.sample_ids for d in drafts]
    searches = [Search(rule.index, evidence_body(rule, d.group, *d.evidence_range))
                for d, n in zip(drafts, need, strict=True) if n and d.evidence_range is not None]
    responses = (yield searches) if searches else []
    out = []
    it = iter(responses)
    for d, n in zip(drafts, need, strict=True):
        if not n:
            out.append(d)
            continue
        response = next(it)
        ids = tuple(h["_id"] for h in response["hits"]["hits"])
        out.append(Draft(**{**{k: getattr(d, k) for k in Draft.__slots__}, "sample_ids": ids}))
    return out


class Drafts(list[Draft]):
    """A rule's drafts for one segment, with what the evaluation learnt (cold start)."""

    learning: bool = False
    learning_until: datetime | None = None


def rule_gen(ctx: Ctx) -> Gen:
    if history_span(ctx.rule) is not None:
        ctx.status["oldest"] = yield from oldest_gen(ctx)
    drafts = yield from RUNNERS[ctx.rule.type](ctx)
    limit = ctx.rule.max_findings
    if len(drafts) > limit:  # whatever the type: the earliest windows are kept
        drafts.sort(key=lambda d: d.window_start)
        drafts = mark_truncated(drafts[:limit],
                                f"findings: kept the first {limit} of {len(drafts)} (max_findings)")
    out = Drafts((yield from _evidence(ctx.rule, drafts)))
    if "learning_until" in ctx.status:
        out.learning, out.learning_until = True, ctx.status["learning_until"]
    return out



#: per rule of a round, in order: its drafts, or the exception that failed it
Results = list[list[Draft] | Exception]


async def search_round(items: list[tuple[Rule, datetime, datetime]], store: Store,
                        search_stats: SearchStats, cache: dict[str, datetime] | None = None
                        ) -> Results:
    eql = bool(store.capabilities and store.capabilities.has("eql"))
    gens = [_guard(rule_gen(Ctx(rule, s, e, eql, cache))) for rule, s, e in items]
    results: Results = await _drive(lockstep(gens), store, search_stats)
    return results


#: evaluation rounds (one segment of every rule) searched at once: while the engine parses
#: and evaluates one round's responses, Elasticsearch already works on the next (2M-event
#: bench backfill, median of 4: 5.5 s -> 3.9 s wall for the same searches)
ROUNDS_IN_FLIGHT = 2

Round = list[tuple[Rule, datetime, datetime]]


async def rounds(rounds: Iterator[tuple[Any, Round]], store: Store, stats: SearchStats,
                  cache: dict[str, datetime] | None = None
                  ) -> AsyncGenerator[tuple[Any, Results | MonitorError], None]:
    """Search ``(tag, round)`` items in order, up to ``ROUNDS_IN_FLIGHT`` at a time, and yield
    ``(tag, results)`` in order, or ``(tag, error)`` when the round's searches failed as a whole
    (Elasticsearch unreachable). A round is drawn from ``rounds`` only when it is started, so
    the caller can drop rules that failed meanwhile; use under ``aclosing`` (cancels the rest)."""
    pending: deque[tuple[Any, asyncio.Future[Results]]] = deque()

    def fill() -> None:
        while len(pending) < ROUNDS_IN_FLIGHT:
            nxt = next(rounds, None)
            if nxt is None:
                return
            tag, items = nxt
            pending.append((tag, asyncio.ensure_future(search_round(items, store, stats,
                                                                     cache))))

    fill()
    try:
        while pending:
            tag, task = pending.popleft()
            try:
                results: Results | MonitorError = await task
            except MonitorError as exc:
                results = exc
            fill()
            yield tag, results
    finally:
        for _, task in pending:
            task.cancel()
        await asyncio.gather(*(task for _, task in pending), return_exceptions=True)
