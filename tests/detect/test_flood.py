"""A flood (noisy rule, hostile traffic) is capped at ``max_findings`` and says so."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.detect.engine import evaluate_range
from monitor.errors import RuleError
from monitor.store import Store

from .helpers import event, load, make_rule, series

T0 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
SPAN = (T0 - timedelta(minutes=5), T0 + timedelta(minutes=30))


async def test_match_flood_keeps_max_findings_and_marks_them(dstore: Store) -> None:
    docs = [event(T0 + timedelta(seconds=i), event__action="Accept", source__ip=f"10.9.0.{i}")
            for i in range(1, 41)]  # 40 groups
    await load(dstore, docs)
    capped = make_rule(type="match", query="event.action:Accept", group_by=["source.ip"],
                       max_findings=7)
    stats = await evaluate_range([capped], dstore, *SPAN)
    assert stats.findings == 7 and capped.id in stats.truncated
    assert "of 8+" in stats.truncated[capped.id]  # it stopped paging right after the cap
    assert all("truncated" in d["finding"]["extra"] for d in stats.results)
    # under the cap nothing is cut or marked
    roomy = make_rule(type="match", query="event.action:Accept", group_by=["source.ip"],
                      max_findings=40)
    stats = await evaluate_range([roomy], dstore, *SPAN)
    assert stats.findings == 40 and not stats.truncated
    assert not any("truncated" in d["finding"]["extra"] for d in stats.results)


async def test_candidate_flood_is_capped_before_precise_checks(dstore: Store) -> None:
    docs = []
    for n in range(12):  # 12 brute-forcing sources, each 6 failures in a minute
        docs += series(T0 + timedelta(seconds=n), 6, timedelta(seconds=10),
                       event__action="logon-failed", source__ip=f"10.8.0.{n + 1}")
    await load(dstore, docs)
    rule = make_rule(type="threshold", query="event.action:logon-failed",
                     group_by=["source.ip"], threshold={"count": 5, "window": "5m"},
                     max_findings=4)
    stats = await evaluate_range([rule], dstore, *SPAN)
    assert stats.findings == 4
    assert "candidate keys: kept the first 4 of 12 (" in stats.truncated[rule.id]  # exact count
    assert len({d["finding"]["group_key"] for d in stats.results}) == 4


def test_max_findings_is_validated() -> None:
    with pytest.raises(RuleError, match="max_findings"):
        make_rule(type="match", query="*", max_findings=0)
