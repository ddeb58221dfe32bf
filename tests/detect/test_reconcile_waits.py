"""The out-of-band rule judges an install only once the change sources have synced past it
(real Elasticsearch): an approving PR synced 4 minutes later yields no finding; a source that
stops syncing is a finding of its own, not a false out-of-band one."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.detect.engine import evaluate_due
from monitor.detect.loader import load_rules
from monitor.store import StateStore, Store
from monitor.store.search import drop_kinds

from .helpers import event, load

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
M = timedelta(minutes=1)
SHA = "3f2a9c1d0e8b7a6f5e4d3c2b1a0f9e8d7c6b5a41"
OUT_OF_BAND = "83b4c5d6-c7d8-42e3-b405-162738495b71"
CURSOR = "github:forge:fw-policy"


async def _fresh(store: Store) -> StateStore:
    """The shipped rule keeps one id: each test starts with no window or cursor state."""
    await drop_kinds(store, ("state",))
    return StateStore(store)


def _rule():
    rule = load_rules().get(OUT_OF_BAND)
    return rule.model_copy(update={"schedule": rule.schedule.model_copy(update={
        "interval": timedelta(minutes=1), "lookback": timedelta(minutes=5),
        "delay": timedelta(seconds=0)})})


async def _synced(state: StateStore, at: datetime) -> None:
    current = await state.get(CURSOR)
    await state.put(CURSOR, {"pulls_since": at.isoformat()}, current, now=at)


async def _install(store: Store) -> None:
    await load(store, [event(T0 + M, event__id="install-1", checkpoint__operation="Install Policy",
                             event__outcome="success", user__name="fw-pipeline",
                             checkpoint__session_name=f"git:fw-policy@{SHA[:8]}")])


async def _pr(store: Store) -> None:
    await load(store, [event(T0 - 10 * M, change__kind="pull_request", change__sha=SHA,
                             change__independent_approval=True, change__checks_passed=True,
                             change__repo="fw-policy")], kind="changes")


async def test_install_waits_for_its_approving_pr_to_sync(dstore: Store) -> None:
    rule, state = _rule(), await _fresh(dstore)
    await _synced(state, T0 - 2 * M)  # the forge synced just before the install
    await _install(dstore)
    found = 0
    for m in range(0, 16):
        if m == 5:  # the PR (merged before the install) lands with the 10:05 sync
            await _pr(dstore)
        if m % 5 == 0 and m:
            await _synced(state, T0 + m * M)
        stats = await evaluate_due([rule], dstore, state, T0 + m * M)
        assert not stats.errors, stats.errors
        found += stats.created
    assert found == 0
    doc = await state.get(f"rule-window:{rule.id}")
    assert doc is not None and doc.value["searched_to"] > (T0 + M).isoformat()  # it was judged


async def test_without_waiting_the_same_install_was_a_false_out_of_band(dstore: Store) -> None:
    rule, state = _rule(), await _fresh(dstore)  # no change-source cursor: nothing to wait for
    await _install(dstore)
    stats = await evaluate_due([rule], dstore, state, T0 + 3 * M)
    assert stats.created == 1  # the PR is not indexed yet: this is what waiting prevents


async def test_a_stale_change_source_is_its_own_finding(dstore: Store) -> None:
    rule, state = _rule(), await _fresh(dstore)
    await _synced(state, T0 - 2 * timedelta(hours=1))  # last sync two hours ago
    await _install(dstore)
    created, groups = 0, []
    for m in (5, 10, 15):
        stats = await evaluate_due([rule], dstore, state, T0 + m * M, dry_run=False)
        created += stats.created
    got = await dstore.es.search(index=dstore.names.read("findings"), query={"match_all": {}})
    groups = [h["_source"]["finding"]["group_key"] for h in got["hits"]["hits"]]
    assert created == 1 and groups == [f"change.source={CURSOR}"]
