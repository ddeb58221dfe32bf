"""Restart safety: an evaluator killed mid-run and restarted produces no duplicate finding and
searches no window twice (committed) or never; a long outage is a reported, backfilled gap."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.detect.engine import EngineStats, evaluate_due, state_key
from monitor.store import StateStore, Store
from monitor.store.search import search

from .helpers import load, make_rule, series

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class Killed(Exception):
    pass


def killer(point: str, after: int = 0):
    calls = {"n": 0}

    def fault(at: str, rule_id: str) -> None:
        if at == point:
            calls["n"] += 1
            if calls["n"] > after:
                raise Killed(f"killed at {at}")
    return fault


def rules():
    sched = {"interval": "5m", "lookback": "5m", "delay": "0s"}
    return [
        make_rule(type="match", query="event.action:Accept AND rule.name:Cleanup",
                  group_by=["source.ip"], schedule=sched, suppress={"window": "5m"}),
        make_rule(type="threshold", query="event.action:logon-failed", group_by=["source.ip"],
                  threshold={"count": 3, "window": "5m"}, schedule=sched),
    ]


async def _findings(store: Store) -> list[str]:
    body = {"size": 1000, "_source": ["finding.id"], "query": {"match_all": {}}}
    response = await search(store, "findings", body)
    return [h["_id"] for h in response["hits"]["hits"]]


async def _data(store: Store) -> None:
    docs = []
    for k in range(4):  # one accept and 3 failures in each 5-minute window, 09:55 .. 10:15
        start = T0 - timedelta(minutes=5) + k * timedelta(minutes=5) + timedelta(seconds=10)
        docs += series(start, 1, timedelta(seconds=1), event__action="Accept",
                       rule__name="Cleanup", source__ip=f"10.0.0.{k}")
        docs += series(start, 3, timedelta(seconds=20), event__action="logon-failed",
                       source__ip=f"10.1.0.{k}")
    await load(store, docs)


@pytest.mark.parametrize("point", ["searched", "committed", "written"])
async def test_kill_and_restart(dstore: Store, point: str) -> None:
    await _data(dstore)
    pack = rules()
    state = StateStore(dstore)
    committed = []
    now = T0
    # run 1 is clean; run 2 is killed at `point`; then the evaluator restarts at each step
    committed += (await evaluate_due(pack, dstore, state, now)).committed
    now += timedelta(minutes=5)
    with pytest.raises(Killed):
        await evaluate_due(pack, dstore, state, now, fault=killer(point))
    for _ in range(3):
        result = await evaluate_due(pack, dstore, state, now)
        committed += result.committed
        assert not result.errors
        now += timedelta(minutes=5)
    # the killed run's commits (if it got that far) are in the state: rebuild the full list
    for rule in pack:
        mine = sorted((s, e) for r, s, e in committed if r == rule.id)
        doc = await state.get(state_key(rule.id))
        assert doc is not None and doc.value["searched_to"] == "2026-03-02T10:15:00.000Z"
        assert not doc.value["pending"]
        if point == "searched":  # nothing was committed before the kill
            assert mine == [(T0 + timedelta(minutes=5 * k) - timedelta(minutes=5),
                             T0 + timedelta(minutes=5 * k)) for k in range(4)]
        else:  # the killed run committed 10:00-10:05 (once); the restart goes on from there
            assert mine == [(T0 - timedelta(minutes=5), T0),
                            (T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)),
                            (T0 + timedelta(minutes=10), T0 + timedelta(minutes=15))]
    ids = await _findings(dstore)
    assert len(ids) == len(set(ids)) == 8  # 4 windows x 2 rules, no duplicate, none lost


async def test_gap_detected_and_backfilled_in_segments(dstore: Store) -> None:
    await _data(dstore)
    pack = rules()
    state = StateStore(dstore)
    stats = EngineStats()
    await evaluate_due(pack, dstore, state, T0 - timedelta(minutes=5), stats=stats)
    # down for 20 minutes (> look-back 5m): gap reported, backfilled in 2-minute segments
    result = await evaluate_due(pack, dstore, state, T0 + timedelta(minutes=15), stats=stats,
                                max_segment=timedelta(minutes=2))
    assert {(r, s, e) for r, s, e in result.gaps} == {
        (rule.id, T0 - timedelta(minutes=5), T0 + timedelta(minutes=15)) for rule in pack}
    for rule in pack:
        mine = [(s, e) for r, s, e in result.committed if r == rule.id]
        assert mine[0][0] == T0 - timedelta(minutes=5) and mine[-1][1] == T0 + timedelta(minutes=15)
        assert all(a[1] == b[0] and b[1] - b[0] <= timedelta(minutes=2)
                   for a, b in zip(mine, mine[1:], strict=False))
        assert stats.rules[rule.id].gaps == 1
    ids = await _findings(dstore)
    assert len(ids) == len(set(ids)) == 8


async def test_backfill_rounds_in_flight_drop_a_failed_rule(dstore: Store) -> None:
    # segments are searched two rounds at a time: a rule refused in one round is already in
    # the next; it is left out from then on, never committed, and the good rule goes on
    await _data(dstore)
    good, bad = rules()[0], make_rule(type="match", query="event.action:(x OR",
                                      group_by=["source.ip"])
    state = StateStore(dstore)
    await evaluate_due([good, bad], dstore, state, T0 - timedelta(minutes=5))
    before = await state.get(state_key(bad.id))
    result = await evaluate_due([good, bad], dstore, state, T0 + timedelta(minutes=15),
                                max_segment=timedelta(minutes=2))
    assert list(result.errors) == [bad.id] and "search refused" in result.errors[bad.id]
    assert {r for r, _, _ in result.committed} == {good.id}
    assert len(result.committed) == 10 and result.segments == 11
    after = await state.get(state_key(bad.id))
    assert (after and after.value) == (before and before.value)
