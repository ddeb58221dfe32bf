"""Late data is evaluated exactly once (real Elasticsearch): a document indexed after its
event-time window was searched is still judged, at the next run, and only once."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.detect.engine import evaluate_due, state_key
from monitor.store import StateStore, Store

from .helpers import event, load, make_rule, series

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
M = timedelta(minutes=1)
SCHEDULE = {"interval": "5m", "lookback": "5m", "delay": "1m"}


def _at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def _runs(rule, store: Store, state: StateStore, minutes: range, before=None) -> int:
    created = 0
    for m in minutes:
        if before is not None and m in before:
            await before[m]()
        stats = await evaluate_due([rule], store, state, T0 + m * M)
        assert not stats.errors, stats.errors
        created += stats.created
    return created


async def test_git_change_indexed_ten_minutes_after_its_commit_time(dstore: Store) -> None:
    rule = make_rule(type="match", index="changes", query="change.kind:direct_push",
                     group_by=["change.repo", "change.sha"], schedule=SCHEDULE)
    state = StateStore(dstore)
    commit_time, synced = T0 + M, T0 + 11 * M

    async def sync() -> None:  # the forge sync lands the change 10 minutes after its commit
        await load(dstore, [event(commit_time, change__kind="direct_push", change__repo="fw",
                                  change__sha="a" * 40, event__ingested=_at(synced))],
                   kind="changes")

    created = await _runs(rule, dstore, state, range(0, 31, 5), before={15: sync})
    assert created == 1
    # the ingest cursor moved past the change: later runs do not judge it again
    doc = await state.get(state_key(rule.id))
    assert doc is not None and doc.value["ingested_to"] == "2026-03-02T10:29:00.000Z"


async def test_spool_replay_after_an_outage_yields_the_delayed_findings(dstore: Store) -> None:
    rule = make_rule(type="threshold", query="event.action:logon-failed",
                     group_by=["source.ip"], threshold={"count": 5, "window": "5m"},
                     schedule=SCHEDULE)
    state = StateStore(dstore)
    # the collector was down 10:02-10:40; its spool holds a burst from 10:05, replayed at 10:41
    outage = series(T0 + 5 * M, 8, timedelta(seconds=20), event__action="logon-failed",
                    source__ip="192.0.2.7", event__ingested=_at(T0 + 41 * M))
    live = series(T0, 2, M, event__action="logon-failed", source__ip="192.0.2.8",
                  event__ingested=_at(T0))

    async def replay() -> None:
        await load(dstore, outage)

    await load(dstore, live)
    created = await _runs(rule, dstore, state, range(0, 61, 5), before={45: replay})
    assert created == 1
    got = await dstore.es.search(index=dstore.names.read("findings"), query={"match_all": {}})
    (hit,) = got["hits"]["hits"]
    assert hit["_source"]["finding"]["group_key"] == "source.ip=192.0.2.7"


async def test_on_time_data_is_not_judged_twice(dstore: Store) -> None:
    rule = make_rule(type="match", query="event.action:Accept AND destination.port:23",
                     group_by=["source.ip"], schedule=SCHEDULE)
    state = StateStore(dstore)
    await load(dstore, [event(T0 + 2 * M, event__action="Accept", destination__port=23,
                              source__ip="10.0.0.1", event__ingested=_at(T0 + 2 * M))])
    created = 0
    late_runs = 0
    for m in range(0, 31, 5):
        stats = await evaluate_due([rule], dstore, state, T0 + m * M)
        created += stats.created
        late_runs += bool(stats.late)
    assert created == 1 and late_runs == 0
