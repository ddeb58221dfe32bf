"""Sliding-window semantics: spans straddling aggregation buckets and evaluation runs."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.detect.engine import EngineStats, evaluate_due, evaluate_range, state_key
from monitor.detect.types.base import sliding_counts, sliding_distinct
from monitor.detect.types.sequence import match_sequence
from monitor.store import StateStore, Store

from .helpers import event, load, make_rule, series

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
S = timedelta(seconds=1)


# -- pure window arithmetic --------------------------------------------------------------------

def test_sliding_counts_any_span_not_fixed_buckets() -> None:
    # 3 events at 290..299 s and 3 at 300..309 s: no 5-minute bucket holds 5, a span does
    points = [(290.0, 1), (295.0, 1), (299.0, 1), (301.0, 1), (305.0, 1)]
    fires = sliding_counts(points, 300, 5, 0, 1000)
    assert [(f.since, f.at, f.value) for f in fires] == [(290.0, 305.0, 5)]
    # the span must be shorter than the window: 5 events over exactly 300 s do not fire
    assert not sliding_counts([(0.0, 1), (100.0, 2), (200.0, 1), (300.0, 1)], 300, 5, 0, 1000)


def test_sliding_counts_only_fire_inside_the_run() -> None:
    points = [(float(t), 1) for t in range(0, 10)]
    assert [f.at for f in sliding_counts(points, 60, 5, 0, 6)] == [4.0, 5.0]
    assert [f.at for f in sliding_counts(points, 60, 5, 6, 100)] == [6.0, 7.0, 8.0, 9.0]


def test_sliding_distinct() -> None:
    points = [(float(i), p) for i, p in enumerate([1, 1, 2, 3, 2, 4])]
    assert [f.at for f in sliding_distinct(points, 10, 4, 0, 100)] == [5.0]
    assert not sliding_distinct(points, 3, 4, 0, 100)


def test_merged_fires_keep_what_a_finding_reads() -> None:
    # one fire per suppression bucket: first `since`, last `at`, highest value
    points = [(float(t), (t * 7) % 11) for t in range(0, 400, 3)]
    for fires, merged in ((sliding_distinct(points, 60, 5, 30, 380),
                           sliding_distinct(points, 60, 5, 30, 380, merge=100)),
                          (sliding_counts([(t, 1) for t, _ in points], 60, 12, 30, 380),
                           sliding_counts([(t, 1) for t, _ in points], 60, 12, 30, 380, merge=100))):
        buckets: dict[int, list] = {}
        for f in fires:
            buckets.setdefault(int(f.at) // 100, []).append(f)
        assert [(f.since, f.at, f.value) for f in merged] == [
            (b[0].since, b[-1].at, max(f.value for f in b)) for _, b in sorted(buckets.items())]
        assert len(merged) == len(buckets) > 1


def test_match_sequence_order_and_span() -> None:
    fails = [(100.0, 3), (110.0, 2)]
    assert [f.at for f in match_sequence([fails, [(120.0, 1)]], [5, 1], 60, 0, 1000)] == [120.0]
    assert not match_sequence([fails, [(90.0, 1)]], [5, 1], 60, 0, 1000)  # success first
    assert not match_sequence([fails, [(200.0, 1)]], [5, 1], 60, 0, 1000)  # too late


# -- against Elasticsearch ---------------------------------------------------------------------

THRESHOLD = dict(type="threshold", query="event.action:logon-failed", group_by=["source.ip"],
                 threshold={"count": 5, "window": "5m"},
                 schedule={"interval": "5m", "lookback": "5m", "delay": "0s"})


async def test_threshold_straddling_bucket_border(dstore: Store) -> None:
    # 5 failures 09:57:40..10:02:20 (every 70 s): no aligned 5-minute bucket holds 5
    docs = series(T0 - timedelta(seconds=140), 5, timedelta(seconds=70),
                  event__action="logon-failed", source__ip="10.0.0.1")
    docs += series(T0 - timedelta(seconds=140), 5, timedelta(seconds=80),
                   event__action="logon-failed", source__ip="10.0.0.2")  # 320 s span: too slow
    await load(dstore, docs)
    stats = await evaluate_range([make_rule(**THRESHOLD)], dstore, T0 - timedelta(minutes=10),
                                 T0 + timedelta(minutes=10))
    groups = [d["finding"]["group_key"] for d in stats.results]
    assert groups == ["source.ip=10.0.0.1"]
    finding = stats.results[0]["finding"]
    assert finding["count"] == 5 and len(finding["sample_ids"]) == 5
    assert finding["first_seen"].startswith("2026-03-02T09:57:40")


async def test_threshold_straddling_two_runs_fires_once(dstore: Store) -> None:
    rule = make_rule(**THRESHOLD)
    state = StateStore(dstore)
    # 3 failures before 10:00, 2 after: the span crosses the border between two runs
    docs = series(T0 - timedelta(seconds=90), 5, timedelta(seconds=40),
                  event__action="logon-failed", source__ip="10.0.0.3")
    await load(dstore, docs)
    first = await evaluate_due([rule], dstore, state, T0)  # never run: [09:55, 10:00)
    assert first.findings == 0 and first.committed == [(rule.id, T0 - timedelta(minutes=5), T0)]
    second = await evaluate_due([rule], dstore, state, T0 + timedelta(minutes=5))
    assert second.findings == 1 and second.created == 1
    third = await evaluate_due([rule], dstore, state, T0 + timedelta(minutes=10))
    assert third.findings == 0
    doc = await state.get(state_key(rule.id))
    assert doc is not None and doc.value["searched_to"] == "2026-03-02T10:10:00.000Z"


async def test_cardinality_straddling_runs(dstore: Store) -> None:
    rule = make_rule(type="cardinality", query="event.category:network", group_by=["source.ip"],
                     cardinality={"field": "destination.port", "count": 10, "window": "1m"},
                     schedule={"interval": "1m", "lookback": "1m", "delay": "0s"})
    docs = [event(T0 - timedelta(seconds=30) + i * 5 * S, event__category="network",
                  source__ip="10.9.9.9", destination__port=1000 + i) for i in range(10)]
    await load(dstore, docs)
    state = StateStore(dstore)
    runs = [await evaluate_due([rule], dstore, state, T0 + k * timedelta(minutes=1))
            for k in range(3)]
    assert [r.findings for r in runs] == [0, 1, 0]


async def test_cardinality_counts_every_value_of_multi_valued_events(dstore: Store) -> None:
    # 9 distinct ports within 20 s from only 3 events (3 ports each): the refinement may not
    # skip buckets holding fewer than `count` events when a field has several values
    rule = make_rule(type="cardinality", query="event.category:network", group_by=["source.ip"],
                     cardinality={"field": "destination.port", "count": 9, "window": "1m"})
    docs = [event(T0 + i * 10 * S, event__category="network", source__ip="10.7.7.7",
                  destination__port=[3 * i + 1, 3 * i + 2, 3 * i + 3]) for i in range(3)]
    docs += [event(T0 + timedelta(minutes=30) + i * S, event__category="network",
                   source__ip="10.7.7.7", destination__port=1) for i in range(6)]
    await load(dstore, docs)
    stats = await evaluate_range([rule], dstore, T0 - timedelta(minutes=10),
                                 T0 + timedelta(minutes=50))
    assert [d["finding"]["group_key"] for d in stats.results] == ["source.ip=10.7.7.7"]
    assert stats.results[0]["finding"]["count"] == 9


async def test_no_gap_no_overlap_across_runs(dstore: Store) -> None:
    rule = make_rule(type="match", query="event.action:x", group_by=["source.ip"],
                     schedule={"interval": "1m", "lookback": "2m", "delay": "30s"})
    state = StateStore(dstore)
    stats = EngineStats()
    committed = []
    for now in (T0, T0 + timedelta(seconds=30), T0 + timedelta(seconds=95),
                T0 + timedelta(seconds=200)):
        committed += (await evaluate_due([rule], dstore, state, now, stats=stats)).committed
    windows = [(s, e) for _, s, e in committed]
    assert windows[0][0] == T0 - timedelta(seconds=150)
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:], strict=False))
    assert windows[-1][1] == T0 + timedelta(seconds=170)
    rs = stats.rules[rule.id]
    assert rs.runs["success"] == 3 and rs.runs["skipped"] == 1
    assert rs.lag_seconds == 30.0


async def test_a_refused_query_fails_only_its_rule(dstore: Store) -> None:
    good = make_rule(type="match", query="event.action:x", group_by=["source.ip"])
    bad = make_rule(type="match", query="event.action:(x OR", group_by=["source.ip"])
    await load(dstore, series(T0, 2, S, event__action="x", source__ip="10.0.0.1"))
    stats = await evaluate_range([bad, good], dstore, T0, T0 + timedelta(minutes=5))
    assert list(stats.errors) == [bad.id] and "search refused" in stats.errors[bad.id]
    assert [d["rule"]["id"] for d in stats.results] == [good.id]


async def test_flatline_one_finding_per_silence_across_runs(dstore: Store) -> None:
    rule = make_rule(type="flatline", query="observer.vendor:Checkpoint",
                     group_by=["observer.name"], flatline={"window": "15m", "history": "1d"},
                     schedule={"interval": "5m", "lookback": "5m", "delay": "0s"})
    docs = series(T0 - timedelta(hours=1), 60, timedelta(minutes=1), observer__vendor="Checkpoint",
                  observer__name="gw-1")  # last event 09:59:00, then silence
    docs += series(T0 - timedelta(hours=1), 120, timedelta(minutes=1),
                   observer__vendor="Checkpoint", observer__name="gw-2")
    # a day of indexed history (else the rule is still learning: see test_cold_start.py)
    docs.append(event(T0 - timedelta(hours=25), observer__vendor="Checkpoint",
                      observer__name="gw-2"))
    await load(dstore, docs)
    state = StateStore(dstore)
    found = []
    for k in (0, 3, 4, 7):  # runs at 10:00, 10:15, 10:20, 10:35 (each catches up)
        result = await evaluate_due([rule], dstore, state, T0 + k * timedelta(minutes=5))
        found += [d["finding"]["group_key"] for d in (result.results or [])]
        assert not result.errors
        found += ["created"] * result.created
    assert found.count("created") == 1


async def test_spike_bucketed_and_per_step_paths_agree(dstore: Store) -> None:
    docs = series(T0 - timedelta(minutes=70), 70, timedelta(minutes=1), event__action="Drop",
                  observer__name="gw-1")
    docs += series(T0 + timedelta(minutes=1), 120, 2 * S, event__action="Drop",
                   observer__name="gw-1")
    await load(dstore, docs)
    found = {}
    for window in ("10m", "7m"):  # 10m: one bucketed composite; 7m: one search per step
        rule = make_rule(type="spike", query="event.action:Drop", group_by=["observer.name"],
                         spike={"window": window, "reference": "1h", "factor": 5,
                                "min_count": 50},
                         schedule={"interval": "5m", "lookback": "5m", "delay": "0s"})
        stats = await evaluate_range([rule], dstore, T0, T0 + timedelta(minutes=15))
        found[window] = ([d["finding"]["group_key"] for d in stats.results], stats.searches)
    assert found["10m"][0] == found["7m"][0] == ["observer.name=gw-1"]
    assert found["10m"][1] < found["7m"][1]


def test_calendar_ranges_follow_the_local_clock_across_dst() -> None:
    from monitor.detect.compile import calendar_filter
    rule = make_rule(type="match", query="a:b", calendar={
        "timezone": "Europe/Rome", "days": [1, 2, 3, 4, 5], "hours": "09:00-17:00",
        "match": "inside"})
    # Friday 2026-03-27 (CET, UTC+1) and Monday 2026-03-30 (CEST, UTC+2); weekend closed
    clause = calendar_filter(rule, datetime(2026, 3, 27, tzinfo=UTC),
                             datetime(2026, 3, 30, 23, tzinfo=UTC))
    ranges = [(r["range"]["@timestamp"]["gte"], r["range"]["@timestamp"]["lt"])
              for r in clause["bool"]["should"]]
    assert ("2026-03-27T08:00:00.000Z", "2026-03-27T16:00:00.000Z") in ranges
    assert ("2026-03-30T07:00:00.000Z", "2026-03-30T15:00:00.000Z") in ranges
    assert not any(r[0].startswith(("2026-03-28", "2026-03-29")) for r in ranges)
    outside = calendar_filter(rule.model_copy(update={"calendar": rule.calendar.model_copy(
        update={"match": "outside"})}), T0, T0)
    assert "must_not" in outside["bool"]
