"""Rule evaluation: windows, batching, findings, per-rule stats.

Entry points (what the daemon and the CLI call)::

    async def evaluate_due(rules: Iterable[Rule], store: Store, state: StateStore,
                           now: datetime, *, stats: EngineStats | None = None,
                           exceptions: Sequence[FindingException] = (),
                           max_segment: timedelta = timedelta(hours=1),
                           dry_run: bool = False) -> EvalStats
        Evaluate every enabled rule whose next window is due at ``now``. Each rule's window is
        ``[searched_to, now - delay)``; ``searched_to`` lives in StateStore under
        ``rule-window:<rule id>``. A rule never run starts at ``now - delay - lookback``. A gap
        longer than the look-back (daemon down) is reported (``EvalStats.gaps``) and backfilled in
        segments of at most ``max_segment``.

    async def evaluate_range(rules, store, start, end, *, write=False, exceptions=(),
                             now=None, max_segment=timedelta(hours=1)) -> EvalStats
        Evaluate ``[start, end)`` without touching window state (``monitor rules run``,
        fixtures, backfill on demand). With ``write=False`` nothing is written (dry run).

    class EngineStats      per-rule stats for the metrics module: ``stats.rules[rule_id]`` is a
                           RuleStats(runs{success,error,skipped}, last_duration_seconds,
                           matches{severity}, last_success, lag_seconds, gaps, searched_to).

Each step of every due rule's evaluation goes out as ONE ``_msearch`` (rule types are pure
generators, see ``types/base.py``, driven by ``drive.py``); candidates, composite pages and evidence are further
batched steps. Segments of a backfill are searched ``ROUNDS_IN_FLIGHT`` at a time and
processed (committed) in order. Commit protocol per rule and segment (restart-safe, nothing twice or never):

1. search (nothing stored yet: a crash here re-searches the same, never-committed window);
2. compare-and-set ``searched_to = segment end`` together with the finding documents as
   ``pending`` (the outbox), so the window is committed exactly once;
3. write the findings with ``op_type=create`` (deterministic ids: a replay is a duplicate);
4. clear ``pending``. A crash between 2 and 4 replays the outbox at the next run.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import ConflictError, MonitorError
from ..findings.build import finding_doc, finding_id
from ..findings.exceptions import FindingException, match_exception
from ..findings.store import write_findings
from ..inventory.model import Inventory
from ..model import Finding
from ..store import BulkWriter, StateDoc, StateStore, Store
from ..store.search import SearchStats
from .bind import bind_all
from .compile import evidence_body, iso
from .drive import Round, RuleSearchError
from .drive import rounds as search_rounds
from .late import late_segments, late_starts
from .schema import Rule
from .suppress import Suppressor
from .sync import SyncState, read_sync, stale_drafts
from .types.base import Draft, to_dt

__all__ = [
    "EngineStats",
    "EvalStats",
    "RuleSearchError",
    "RuleStats",
    "evaluate_due",
    "evaluate_range",
    "floor_second",
    "state_key",
]

log = logging.getLogger(__name__)

Fault = Callable[[str, str], None]
#: findings of one rule and segment carried in the state document as the outbox (beyond this
#: they are written before the commit instead)
MAX_OUTBOX = 1000


def state_key(rule_id: str) -> str:
    return f"rule-window:{rule_id}"


def floor_second(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


@dataclass
class RuleStats:
    runs: Counter[str] = field(default_factory=Counter)
    last_duration_seconds: float = 0.0
    matches: Counter[str] = field(default_factory=Counter)
    last_success: datetime | None = None
    searched_to: datetime | None = None
    lag_seconds: float = 0.0
    gaps: int = 0
    last_error: str | None = None
    #: the rule's history is not indexed yet (cold start): it raises nothing meanwhile
    learning: bool = False
    learning_until: datetime | None = None


@dataclass
class EngineStats:
    """Long-lived, owned by the daemon; the metrics collector reads it at scrape time."""

    rules: dict[str, RuleStats] = field(default_factory=dict)
    search: SearchStats = field(default_factory=SearchStats)

    def rule(self, rule_id: str) -> RuleStats:
        return self.rules.setdefault(rule_id, RuleStats())

    def lag(self, rule_id: str, now: datetime) -> float:
        st = self.rules.get(rule_id)
        if st is None or st.searched_to is None:
            return 0.0
        return max(0.0, (now - st.searched_to).total_seconds())


@dataclass
class EvalStats:
    rules_evaluated: int = 0
    rules_skipped: int = 0
    segments: int = 0
    findings: int = 0
    created: int = 0
    duplicates: int = 0
    excepted: int = 0
    gaps: list[tuple[str, datetime, datetime]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    #: rule id -> what a flood cut (``max_findings``); the run still succeeded
    truncated: dict[str, str] = field(default_factory=dict)
    #: rule id -> when it will have the history its question needs (None: no data at all);
    #: a learning rule raises no finding for the moments its history does not cover
    learning: dict[str, datetime | None] = field(default_factory=dict)
    #: rule id -> the earliest event time of documents ingested after their window was
    #: searched (judged again in this run)
    late: dict[str, datetime] = field(default_factory=dict)
    #: drafts dropped by sliding suppression (same group, within the suppression window of
    #: the finding that fired: the same incident)
    suppressed: int = 0
    #: rule id -> the inventory keys it needs that are empty: not evaluated (no findings, its
    #: window does not move, so it is judged once the inventory has them)
    unbound: dict[str, tuple[str, ...]] = field(default_factory=dict)
    round_trips: int = 0
    searches: int = 0
    took_ms: int = 0
    duration_seconds: float = 0.0
    committed: list[tuple[str, datetime, datetime]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    #: called after a write that created findings (the daemon starts an alert sync): an
    #: alert leaves when its finding is stored, not when the whole run ends
    on_created: Callable[[], None] | None = field(default=None, repr=False)
    #: the writer findings go through (the daemon's, with its rejection hook); None: a plain one
    writer: BulkWriter | None = field(default=None, repr=False)


def to_finding(rule: Rule, d: Draft, store: Store) -> Finding:
    query: dict[str, Any] = {"index": store.names.read(rule.index), "detection": d.detection}
    if d.evidence_range is not None:
        query["evidence"] = evidence_body(rule, d.group, *d.evidence_range)
    return Finding(
        id=finding_id(rule.id, d.group, d.window_start), rule_id=rule.id, rule_name=rule.name,
        rule_version=rule.version, rule_type=rule.type, severity=rule.severity,
        risk_score=rule.risk_score, window_start=d.window_start, window_end=d.window_end,
        group=d.group, count=d.count, query=query, sample_ids=d.sample_ids,
        first_seen=d.first_seen, last_seen=d.last_seen, mitre_tactics=rule.tactics,
        mitre_techniques=rule.techniques, pci_requirements=rule.pci_dss_v4_0_1,
        description=rule.description,
        extra={**d.extra, "inventory_sha256": rule.bound_inventory} if rule.bound_inventory
        else d.extra)


def _docs(rule: Rule, drafts: list[Draft], store: Store, exceptions: Sequence[FindingException],
          evaluated: tuple[datetime, datetime], now: datetime, out: EvalStats,
          suppressor: Suppressor | None = None) -> list[dict[str, Any]]:
    if getattr(drafts, "learning", False):
        out.learning[rule.id] = getattr(drafts, "learning_until", None)
    if suppressor is not None:
        before = suppressor.dropped
        drafts = suppressor.admit(rule.id, drafts)
        out.suppressed += suppressor.dropped - before
    truncated = next((d.extra["truncated"] for d in drafts if "truncated" in d.extra), None)
    if truncated is not None:
        out.truncated[rule.id] = truncated
        log.warning("rule %s truncated %s..%s: %s; narrow the rule or add exceptions", rule.id,
                    iso(evaluated[0]), iso(evaluated[1]), truncated)
    docs = []
    for d in drafts:
        finding = to_finding(rule, d, store)
        exc = match_exception(list(exceptions), rule.id, d.group, now)
        if exc is not None:
            out.excepted += 1
            finding = replace(finding, exception=exc.id)
        docs.append(finding_doc(finding, evaluated=evaluated, now=now,
                                exception_expires=iso(exc.expires) if exc else None))
    return docs


def _segments(start: datetime, end: datetime, size: timedelta) -> list[tuple[datetime, datetime]]:
    out = []
    while start < end:
        nxt = min(end, start + size)
        out.append((start, nxt))
        start = nxt
    return out


# -- entry points -----------------------------------------------------------------------------

async def evaluate_range(rules: Iterable[Rule], store: Store, start: datetime, end: datetime, *,
                         write: bool = False, exceptions: Sequence[FindingException] = (),
                         now: datetime | None = None,
                         max_segment: timedelta = timedelta(hours=1),
                         search_stats: SearchStats | None = None,
                         inventory: Inventory | None = None) -> EvalStats:
    """Evaluate ``[start, end)`` for ``rules`` without touching window state. Rules naming
    inventory sets are bound to ``inventory`` first (see ``bind.py``)."""
    began = time.perf_counter()
    now = now or datetime.now(UTC)
    out = EvalStats()
    sstats = search_stats or SearchStats()
    rules, out.unbound = bind_all(list(rules), inventory, now.date())
    suppressors = {r.id: Suppressor(r.suppress_window) for r in rules}
    rounds = (((s, e), [(r, s, e) for r in rules]) for s, e in _segments(start, end, max_segment))
    async with aclosing(search_rounds(rounds, store, sstats, {})) as searched:
        async for (seg_start, seg_end), results in searched:
            if isinstance(results, MonitorError):
                raise results
            out.segments += 1
            docs: list[dict[str, Any]] = []
            for rule, result in zip(rules, results, strict=True):
                if isinstance(result, Exception):
                    out.errors[rule.id] = f"{type(result).__name__}: {result}"
                    continue
                docs.extend(_docs(rule, result, store, exceptions, (seg_start, seg_end), now,
                                  out, suppressors[rule.id]))
            out.findings += len(docs)
            out.results.extend(docs)
            if write and docs:
                await _write(docs, store, out)
    out.rules_evaluated = len(rules)
    out.round_trips, out.searches, out.took_ms = sstats.round_trips, sstats.searches, sstats.took_ms
    out.duration_seconds = time.perf_counter() - began
    return out


@dataclass
class _Plan:
    rule: Rule
    doc: StateDoc | None
    segments: list[tuple[datetime, datetime]]
    suppressor: Suppressor | None = None
    #: the first ``n_late`` segments re-judge windows already searched (late documents)
    n_late: int = 0
    #: the ingest-time cursor this run moves to (``late.py``)
    ingest_end: datetime | None = None
    #: the last judged segment lacked the history its question needs (``types/learning.py``);
    #: kept in the window state so ``rules list --state`` and the report can say so
    learning: bool = False
    learning_until: datetime | None = None

    def __post_init__(self) -> None:
        value = self.doc.value if self.doc is not None else {}
        self.suppressor = Suppressor(self.rule.suppress_window, value.get("suppress"))


async def _replay_outbox(store: Store, state: StateStore, plan: _Plan, out: EvalStats) -> None:
    doc = plan.doc
    if doc is None or not doc.value.get("pending"):
        return
    await _write(doc.value["pending"], store, out)
    plan.doc = await state.put(doc.key, {**doc.value, "pending": []}, doc, kind="rule-window",
                               visible=False)


async def _plan(rule: Rule, state: StateStore, now: datetime, max_segment: timedelta,
                out: EvalStats, rstats: RuleStats, sync: SyncState | None = None
                ) -> _Plan | None:
    doc = await state.get(state_key(rule.id))
    end = floor_second(now - rule.schedule.delay)
    if rule.reconcile is not None and sync is not None and sync.through is not None:
        # judge installs only on synced change data (sync.py): the window waits for it
        end = min(end, floor_second(sync.through - rule.reconcile.sync_grace))
    if doc is not None and doc.value.get("searched_to"):
        start = to_dt(doc.value["searched_to"])
        if end - start < rule.schedule.interval:
            return _Plan(rule, doc, [])
        if end - start > rule.schedule.lookback + rule.schedule.interval:
            out.gaps.append((rule.id, start, end))
            rstats.gaps += 1
            log.warning("rule %s (%s): gap of %s since %s (look-back %s): backfilling in "
                        "segments of %s", rule.id, rule.name, end - start, iso(start),
                        rule.schedule.lookback, max_segment)
    else:
        start = end - rule.schedule.lookback
    return _Plan(rule, doc, _segments(start, end, max_segment))


async def evaluate_due(rules: Iterable[Rule], store: Store, state: StateStore, now: datetime, *,
                       stats: EngineStats | None = None,
                       exceptions: Sequence[FindingException] = (),
                       max_segment: timedelta = timedelta(hours=1), dry_run: bool = False,
                       fault: Fault | None = None,
                       inventory: Inventory | None = None,
                       on_created: Callable[[], None] | None = None,
                       writer: BulkWriter | None = None) -> EvalStats:
    """Evaluate every due, enabled rule once (see module docstring). ``fault`` is a test hook
    called as ``fault(point, rule_id)`` at ``searched``, ``committed`` and ``written``.
    ``inventory`` is read by the caller at every run, so a changed inventory applies at once.
    ``on_created`` is called after each write that stored a new finding; findings are written
    through ``writer`` (the daemon's) when given."""
    began = time.perf_counter()
    stats = stats or EngineStats()
    out = EvalStats(on_created=on_created, writer=writer)
    sstats = SearchStats()
    plans = await _prepare(rules, store, state, now, stats, exceptions, max_segment, dry_run,
                           inventory, out, sstats)
    out.rules_evaluated = len(plans)
    timers = {p.rule.id: time.perf_counter() for p in plans}
    await _judge(plans, store, state, now, stats, exceptions, dry_run, fault, out, sstats)
    if not dry_run:
        await _late_only(plans, state, now, out)
    _record(plans, stats, timers, now, dry_run, out, sstats)
    out.duration_seconds = time.perf_counter() - began
    return out


async def _prepare(rules: Iterable[Rule], store: Store, state: StateStore, now: datetime,
                   stats: EngineStats, exceptions: Sequence[FindingException],
                   max_segment: timedelta, dry_run: bool, inventory: Inventory | None,
                   out: EvalStats, sstats: SearchStats) -> list[_Plan]:
    """Bind the rules to the inventory and plan each one's segments (late windows first); the
    outbox of an interrupted run is replayed before anything new is judged."""
    bound, out.unbound = bind_all([r for r in rules if r.enabled], inventory, now.date())
    for rule_id, missing in out.unbound.items():
        stats.rule(rule_id).runs["skipped"] += 1
        log.warning("rule %s not evaluated: the inventory lacks %s", rule_id, ", ".join(missing))
    plans: list[_Plan] = []
    sync = await read_sync(store, sstats) if any(r.reconcile for r in bound) else None
    planned = [p for p in [await _plan(r, state, now, max_segment, out, stats.rule(r.id), sync)
                           for r in bound] if p is not None]
    if sync is not None:
        await _stale_sources(bound, sync, store, exceptions, now, out, dry_run)
    await _add_late(planned, store, sstats, now, max_segment, out)
    for plan in planned:
        if not dry_run:
            await _replay_outbox(store, state, plan, out)
        if plan.segments:
            plans.append(plan)
        else:
            out.rules_skipped += 1
            stats.rule(plan.rule.id).runs["skipped"] += 1
    return plans


async def _judge(plans: list[_Plan], store: Store, state: StateStore, now: datetime,
                 stats: EngineStats, exceptions: Sequence[FindingException], dry_run: bool,
                 fault: Fault | None, out: EvalStats, sstats: SearchStats) -> None:
    """Search every plan's segments round by round (one ``_msearch`` per round), turn the
    answers into findings and commit each rule's window with its findings; a rule that fails
    sits out the later rounds."""
    failed: set[str] = set()

    def rounds() -> Iterator[tuple[tuple[int, list[_Plan]], Round]]:
        # drawn as each round starts: rules that failed by then are left out
        for round_no in range(max((len(p.segments) for p in plans), default=0)):
            active = [p for p in plans if round_no < len(p.segments) and p.rule.id not in failed]
            if not active:
                return
            yield (round_no, active), [(p.rule, *p.segments[round_no]) for p in active]

    async with aclosing(search_rounds(rounds(), store, sstats, {})) as searched:
        async for (round_no, active), results in searched:
            if isinstance(results, MonitorError):
                for p in plans:
                    if round_no < len(p.segments) and p.rule.id not in failed:
                        out.errors[p.rule.id] = str(results)
                        failed.add(p.rule.id)
                break
            # each: None, or (rule id, why its window was not committed)
            commits: list[Coroutine[Any, Any, tuple[str, str] | None]] = []
            for plan, result in zip(active, results, strict=True):
                rule = plan.rule
                if rule.id in failed:  # failed in the round before, searched meanwhile
                    continue
                seg_start, seg_end = plan.segments[round_no]
                out.segments += 1
                if isinstance(result, Exception):
                    out.errors[rule.id] = f"{type(result).__name__}: {result}"
                    failed.add(rule.id)
                    continue
                if fault:
                    fault("searched", rule.id)
                docs = _docs(rule, result, store, exceptions, (seg_start, seg_end), now, out,
                             plan.suppressor)
                plan.learning = bool(getattr(result, "learning", False))
                plan.learning_until = getattr(result, "learning_until", None)
                out.findings += len(docs)
                for d in docs:
                    stats.rule(rule.id).matches[d["rule"]["severity"]] += 1
                if dry_run:
                    out.results.extend(docs)
                    continue
                if round_no < plan.n_late:  # re-judged: ids are deterministic, writes
                    commits.append(_write(docs, store, out))  # create-only
                    continue
                commits.append(_commit(plan, seg_start, seg_end, docs, store, state, now, out,
                                       fault))
            outcomes = await asyncio.gather(*commits, return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, tuple):
                    rid, message = outcome
                    out.errors[rid] = message
                    failed.add(rid)
                elif isinstance(outcome, BaseException):
                    raise outcome


def _record(plans: list[_Plan], stats: EngineStats, timers: dict[str, float], now: datetime,
            dry_run: bool, out: EvalStats, sstats: SearchStats) -> None:
    """The run's outcome per rule (runs, last success or error, searched-to, lag, learning)
    and the search totals."""
    for plan in plans:
        rstats = stats.rule(plan.rule.id)
        rstats.last_duration_seconds = time.perf_counter() - timers[plan.rule.id]
        if plan.rule.id in out.errors:
            rstats.runs["error"] += 1
            rstats.last_error = out.errors[plan.rule.id]
        else:
            rstats.runs["success"] += 1
            rstats.last_success = now
        if plan.doc is not None and plan.doc.value.get("searched_to"):
            rstats.searched_to = to_dt(plan.doc.value["searched_to"])
        if not dry_run and plan.segments and plan.rule.id not in out.errors:
            rstats.searched_to = plan.segments[-1][1]
        # the latest judged step decides (a run can start learning and end having learnt)
        rstats.learning, rstats.learning_until = plan.learning, plan.learning_until
        if rstats.searched_to is not None:
            rstats.lag_seconds = max(0.0, (now - rstats.searched_to).total_seconds())
    stats.search.requests += sstats.requests
    stats.search.searches += sstats.searches
    stats.search.took_ms += sstats.took_ms
    out.round_trips, out.searches, out.took_ms = sstats.round_trips, sstats.searches, sstats.took_ms


async def _add_late(plans: list[_Plan], store: Store, sstats: SearchStats, now: datetime,
                    max_segment: timedelta, out: EvalStats) -> None:
    """Prepend to each plan the searched windows that late documents fall in (``late.py``)."""
    asks, asked = [], []
    for plan in plans:
        plan.ingest_end = floor_second(now - plan.rule.schedule.delay)
        value = plan.doc.value if plan.doc is not None else {}
        if not value.get("ingested_to") or not value.get("searched_to") or \
                plan.rule.type == "flatline":
            continue
        searched_to = to_dt(value["searched_to"])
        asks.append((plan.rule, to_dt(value["ingested_to"]), plan.ingest_end, searched_to))
        asked.append((plan, searched_to))
    for (plan, searched_to), earliest in zip(asked, await late_starts(asks, store, sstats),
                                             strict=True):
        if earliest is None:
            continue
        late = late_segments(earliest, searched_to, plan.rule, max_segment)
        out.late[plan.rule.id] = earliest
        plan.segments, plan.n_late = late + plan.segments, len(late)


async def _stale_sources(rules: list[Rule], sync: SyncState, store: Store,
                         exceptions: Sequence[FindingException], now: datetime, out: EvalStats,
                         dry_run: bool) -> None:
    """A change source silent past ``stale_after`` is a finding of its own (``sync.py``)."""
    for rule in rules:
        if rule.reconcile is None:
            continue
        docs = _docs(rule, stale_drafts(rule, sync, now), store, exceptions, (now, now), now, out)
        out.findings += len(docs)
        if dry_run:
            out.results.extend(docs)
        else:
            await _write(docs, store, out)


async def _late_only(plans: list[_Plan], state: StateStore, now: datetime,
                     out: EvalStats) -> None:
    """A run that only re-judged late documents (no new window was due) moves the ingest
    cursor on its own; a run with a new window moves it with that window's commit."""
    for plan in plans:
        if not plan.n_late or plan.n_late != len(plan.segments) or plan.doc is None or \
                plan.rule.id in out.errors or plan.ingest_end is None:
            continue
        value = {**plan.doc.value, "ingested_to": iso(plan.ingest_end)}
        try:
            plan.doc = await state.put(state_key(plan.rule.id), value, plan.doc,
                                       kind="rule-window", now=now, visible=False)
        except ConflictError as exc:
            out.errors[plan.rule.id] = f"another evaluator committed this rule's window: {exc}"


async def _write(docs: list[dict[str, Any]], store: Store, out: EvalStats) -> None:
    """Write findings (create-only ids: a replay is harmless) and count what was new."""
    if not docs:
        return
    res = await write_findings(store, docs, writer=out.writer)
    out.created += res.created
    out.duplicates += res.duplicates
    if res.created and out.on_created is not None:
        out.on_created()


async def _commit(plan: _Plan, seg_start: datetime, seg_end: datetime, docs: list[dict[str, Any]],
                  store: Store, state: StateStore, now: datetime, out: EvalStats,
                  fault: Fault | None) -> tuple[str, str] | None:
    rule = plan.rule
    previous = plan.doc.value.get("searched_to") if plan.doc else None
    if previous is not None and to_dt(previous) != seg_start:
        return rule.id, f"window state moved ({previous} != {iso(seg_start)}); skipped"
    if len(docs) > MAX_OUTBOX:
        # too many to carry in the state document: write first (create-only ids make a
        # replay harmless), then commit; a crash in between re-searches this one window
        await _write(docs, store, out)
        docs = []
    value = {"searched_to": iso(seg_end), "searched_from": iso(seg_start),
             "rule_version": rule.version, "last_success": iso(now), "pending": docs,
             "ingested_to": (plan.doc.value.get("ingested_to") if plan.doc else None),
             "learning": plan.learning,
             "learning_until": iso(plan.learning_until) if plan.learning_until else None}
    if seg_end == plan.segments[-1][1] and plan.ingest_end is not None:
        value["ingested_to"] = iso(plan.ingest_end)  # the whole run is judged
    if plan.suppressor is not None:
        value["suppress"] = plan.suppressor.state(seg_end - rule.suppress_window - rule.window)
    try:
        # not waiting for a refresh: windows are read back by get (real time), and a commit
        # held for a refresh interval delayed every finding (and its alert) behind it
        plan.doc = await state.put(state_key(rule.id), value, plan.doc, kind="rule-window",
                                   now=now, visible=False)
    except ConflictError as exc:
        return rule.id, f"another evaluator committed this rule's window: {exc}"
    out.committed.append((rule.id, seg_start, seg_end))
    if fault:
        fault("committed", rule.id)
    if docs:
        await _write(docs, store, out)
        if fault:
            fault("written", rule.id)
        plan.doc = await state.put(state_key(rule.id), {**value, "pending": []}, plan.doc,
                                   kind="rule-window", now=now, visible=False)
    return None
