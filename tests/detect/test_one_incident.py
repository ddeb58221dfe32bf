"""One incident, one finding: a burst straddling a suppression-bucket border fires once, in one
run or across two runs, for every rule type that buckets (match, threshold, cardinality)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.detect.engine import evaluate_due, evaluate_range
from monitor.store import StateStore, Store

from .helpers import load, make_rule, series

BORDER = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # an hourly suppression-bucket border

RULES = {
    "match": dict(type="match", query="event.action:Accept AND destination.port:23",
                  group_by=["source.ip"]),
    "threshold": dict(type="threshold", query="event.action:logon-failed",
                      group_by=["source.ip"], threshold={"count": 5, "window": "10m"}),
    "cardinality": dict(type="cardinality", query="event.action:Drop", group_by=["source.ip"],
                        cardinality={"field": "destination.port", "count": 10, "window": "2m"}),
}
SCHEDULE = {"interval": "5m", "lookback": "5m", "delay": "0s"}


async def _burst(store: Store) -> None:
    """13:57:00 .. 14:02:50, every 10 s: 36 events per kind, half before the border."""
    start = BORDER - timedelta(minutes=3)
    every = timedelta(seconds=10)
    docs = series(start, 36, every, event__action="Accept", destination__port=23,
                  source__ip="10.1.1.1")
    docs += series(start, 36, every, event__action="logon-failed", source__ip="10.1.1.2")
    docs += [(i, {**d, "destination": {"port": 1000 + n}})
             for n, (i, d) in enumerate(series(start, 36, every, event__action="Drop",
                                               source__ip="10.1.1.3"))]
    await load(store, docs)


async def test_burst_straddling_the_border_fires_once_in_one_range(dstore: Store) -> None:
    await _burst(dstore)
    for kind, fields in RULES.items():
        rule = make_rule(**fields, schedule=SCHEDULE)
        stats = await evaluate_range([rule], dstore, BORDER - timedelta(hours=1),
                                     BORDER + timedelta(hours=1), max_segment=timedelta(hours=1))
        assert stats.findings == 1, (kind, [d["finding"]["window"] for d in stats.results])
        assert stats.suppressed >= 1, kind  # the second bucket's draft was the same incident


async def test_burst_straddling_the_border_fires_once_across_runs(dstore: Store) -> None:
    await _burst(dstore)
    for kind, fields in RULES.items():
        rule = make_rule(**fields, schedule=SCHEDULE)
        state = StateStore(dstore)
        found = 0
        for minutes in range(-10, 15, 5):  # runs every 5 minutes around the border
            stats = await evaluate_due([rule], dstore, state, BORDER + timedelta(minutes=minutes))
            assert not stats.errors, stats.errors
            found += stats.created
        assert found == 1, kind


async def test_a_second_burst_after_the_window_is_a_new_incident(dstore: Store) -> None:
    docs = series(BORDER - timedelta(minutes=3), 6, timedelta(minutes=1), event__action="Accept",
                  destination__port=23, source__ip="10.1.1.9")
    docs += series(BORDER + timedelta(hours=1, minutes=30), 2, timedelta(minutes=1),
                   event__action="Accept", destination__port=23, source__ip="10.1.1.9",
                   later=True)
    await load(dstore, docs)
    rule = make_rule(**RULES["match"], schedule=SCHEDULE)
    stats = await evaluate_range([rule], dstore, BORDER - timedelta(hours=1),
                                 BORDER + timedelta(hours=3))
    assert stats.findings == 2
