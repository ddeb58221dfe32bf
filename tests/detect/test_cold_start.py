"""Cold start and the spike/flatline step grid, against the real Elasticsearch.

A rule whose question needs history is *learning* (no finding, reported) until the indexed data
covers that history; a spike needs a whole reference (enough events, no ingestion gap); every
step of every segment is judged whatever the interval."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.detect.engine import EngineStats, evaluate_due, evaluate_range
from monitor.detect.types import spike
from monitor.detect.types.base import Ctx
from monitor.reports.queries import rule_windows
from monitor.reports.sections import rules_learning
from monitor.store import StateStore, Store
from monitor.store.search import refresh, search
from monitor.timefmt import iso_ms

from .helpers import event, load, make_rule, series

DAY = datetime(2026, 3, 2, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)


async def test_new_terms_learns_until_its_history_is_indexed(dstore: Store) -> None:
    rule = make_rule(type="new_terms", query="event.action:login",
                     new_terms={"fields": ["user.name", "source.ip"], "history": "14d"})
    # a fresh install: two days of logins, then alice from a new address
    docs = series(DAY - timedelta(days=2), 48, H, event__action="login", user__name="alice",
                  source__ip="10.0.0.1")
    docs.append(event(DAY + 10 * H, event__action="login", user__name="alice",
                      source__ip="10.0.0.9"))
    await load(dstore, docs)
    stats = await evaluate_range([rule], dstore, DAY, DAY + 12 * H)
    assert stats.findings == 0
    assert stats.learning == {rule.id: DAY - timedelta(days=2) + timedelta(days=14)}
    # the history is imported (an older export): the same question now has an answer
    await load(dstore, [event(DAY - timedelta(days=15), event__action="login", user__name="bob",
                              source__ip="10.0.0.2")])
    stats = await evaluate_range([rule], dstore, DAY, DAY + 12 * H)
    assert [d["finding"]["group_key"] for d in stats.results] == [
        "source.ip=10.0.0.9|user.name=alice"] and not stats.learning


SPIKE = dict(type="spike", query="event.action:Drop", group_by=["observer.name"],
             schedule={"interval": "5m", "lookback": "15m", "delay": "0s"})


async def test_spike_after_midnight_with_no_reference_is_not_a_spike(dstore: Store) -> None:
    """The side-by-side run: data starts at midnight, 1,389 drops by 00:10 against nothing."""
    rule = make_rule(**SPIKE, spike={"window": "10m", "reference": "1h", "factor": 5,
                                     "min_count": 50})
    await load(dstore, series(DAY, 1389, timedelta(milliseconds=400), event__action="Drop",
                              observer__name="gw-1"))
    state = StateStore(dstore)
    engine = EngineStats()
    run = await evaluate_due([rule], dstore, state, DAY + 10 * M, stats=engine)
    assert run.findings == 0 and rule.id in run.learning
    assert engine.rules[rule.id].learning
    # the window state keeps it: `rules list --state` and the report's health section read it
    doc = await state.get(f"rule-window:{rule.id}")
    assert doc is not None and doc.value["learning"] is True
    until = run.learning[rule.id]
    assert doc.value["learning_until"] == (iso_ms(until) if until else None)
    await refresh(dstore, ("state",))
    rows = rules_learning(await search(dstore, "state", rule_windows()))
    assert [r.key for r in rows] == [f"rule-window:{rule.id}"]
    assert "no findings before" in rows[0].detail or "no data" in rows[0].detail
    # an hour of history later the reference is whole: no longer learning, and it says so
    await load(dstore, series(DAY + 10 * M, 60, M, event__action="Drop", observer__name="gw-1"))
    await evaluate_due([rule], dstore, state, DAY + 75 * M, stats=engine)
    doc = await state.get(f"rule-window:{rule.id}")
    assert doc is not None and doc.value["learning"] is False and not engine.rules[rule.id].learning
    await refresh(dstore, ("state",))
    assert rules_learning(await search(dstore, "state", rule_windows())) == ()


async def test_spike_needs_a_whole_reference(dstore: Store) -> None:
    params = {"window": "10m", "reference": "1h", "factor": 5, "min_count": 50,
              "min_reference": 30}
    rule = make_rule(**SPIKE, spike=params)
    # gw-thin: 12 events in its reference (below min_reference) then a burst
    docs = series(DAY, 12, 5 * M, event__action="Drop", observer__name="gw-thin")
    # gw-gap: steady, but the source sent nothing at all 01:20-01:30 (an ingestion gap)
    docs += [d for d in series(DAY, 180, M, event__action="Drop", observer__name="gw-gap")
             if not DAY + 80 * M <= datetime.fromisoformat(
                 d[1]["@timestamp"].replace("Z", "+00:00")) < DAY + 90 * M]
    docs += series(DAY + 110 * M, 100, timedelta(seconds=3), event__action="Drop",
                   observer__name="gw-thin", burst=True)
    docs += series(DAY + 110 * M, 100, timedelta(seconds=3), event__action="Drop",
                   observer__name="gw-gap", burst=True)
    await load(dstore, docs)
    stats = await evaluate_range([rule], dstore, DAY + 110 * M, DAY + 2 * H)
    assert stats.findings == 0, [d["finding"]["group_key"] for d in stats.results]
    # the same burst with a whole reference is a spike
    await load(dstore, series(DAY + 80 * M, 10, M, event__action="Drop", observer__name="gw-gap",
                              filled=True))
    stats = await evaluate_range([rule], dstore, DAY + 110 * M, DAY + 2 * H)
    assert [d["finding"]["group_key"] for d in stats.results] == ["observer.name=gw-gap"]


async def test_down_spike(dstore: Store) -> None:
    rule = make_rule(**SPIKE, spike={"window": "10m", "reference": "1h", "factor": 5,
                                     "direction": "down", "min_reference": 30})
    docs = series(DAY, 90, M, event__action="Drop", observer__name="gw-1")  # until 01:30
    docs += series(DAY, 120, M, event__action="Drop", observer__name="gw-2")  # until 02:00
    docs += series(DAY, 120, M, event__action="Drop", observer__name="gw-3", third=True)
    await load(dstore, docs)
    stats = await evaluate_range([rule], dstore, DAY + 95 * M, DAY + 2 * H)
    found = [(d["finding"]["group_key"], d["finding"]["extra"]["direction"])
             for d in stats.results]
    assert found == [("observer.name=gw-1", "down")]


@pytest.mark.parametrize("interval", [30, 75, 300])
async def test_every_step_of_a_segment_is_judged(dstore: Store, interval: int) -> None:
    """Bursts at the start, middle and end of a one-hour segment are all found (before, at
    intervals under 75 s only the last 48 steps of a segment were judged)."""
    step = timedelta(seconds=interval)
    rule = make_rule(type="spike", query="event.action:Drop", group_by=["observer.name"],
                     schedule={"interval": f"{interval}s", "lookback": "15m", "delay": "0s"},
                     spike={"window": f"{2 * interval}s", "reference": f"{20 * interval}s",
                            "factor": 5, "min_count": 30})
    seg = DAY + 11 * H
    docs = []
    for name, at in (("start", seg + timedelta(seconds=5)), ("middle", seg + 30 * M),
                     ("end", seg + 58 * M)):
        docs += series(seg - 3 * H, int(4 * H / step), step, event__action="Drop",
                       observer__name=name)
        docs += series(at, 60, timedelta(seconds=0.1), event__action="Drop",
                       observer__name=name, burst=True)
    await load(dstore, docs)
    stats = await evaluate_range([rule], dstore, seg, seg + H, max_segment=H)
    assert sorted(d["finding"]["group_key"] for d in stats.results) == [
        "observer.name=end", "observer.name=middle", "observer.name=start"], interval


async def test_flatline_records_when_the_silence_ended(dstore: Store) -> None:
    rule = make_rule(type="flatline", query="*", group_by=["observer.name"],
                     schedule={"interval": "30s", "lookback": "15m", "delay": "0s"},
                     flatline={"window": "15m", "history": "1d"})
    docs = series(DAY - 25 * H, 25 * 60 + 10, M, observer__name="gw-1")  # until 00:10
    docs += series(DAY + 40 * M, 30, M, observer__name="gw-1", back=True)  # back at 00:40
    docs += series(DAY - 25 * H, 26 * 60, M, observer__name="gw-2")
    await load(dstore, docs)
    stats = await evaluate_range([rule], dstore, DAY, DAY + H)
    (finding,) = [d["finding"] for d in stats.results]
    assert finding["group_key"] == "observer.name=gw-1"
    assert finding["extra"]["last_event"].startswith("2026-03-02T00:10")  # a bucket end
    assert finding["extra"]["silence_ended"].startswith("2026-03-02T00:40")
    ongoing = await evaluate_range([rule], dstore, DAY, DAY + 30 * M)
    assert ongoing.results[0]["finding"]["extra"]["ongoing"] is True


def test_spike_per_step_before_any_index_exists() -> None:
    """A fresh install: no events index matches yet, so Elasticsearch answers without
    ``aggregations`` (the response below is what it returns). An ungrouped spike on the
    per-step path (window not a multiple of the interval) judges nothing instead of failing."""
    rule = make_rule(type="spike", query="event.action:Drop",
                     schedule={"interval": "5m", "lookback": "15m", "delay": "0s"},
                     spike={"window": "7m", "reference": "1h", "factor": 5})
    gen = spike.run(Ctx(rule, DAY + 10 * H - 15 * M, DAY + 10 * H))
    searches = next(gen)
    empty = {"_shards": {"total": 0}, "hits": {"total": {"value": 0, "relation": "eq"},
                                               "hits": []}}
    with pytest.raises(StopIteration) as stop:
        gen.send([empty] * len(searches))
    assert stop.value.value == []
