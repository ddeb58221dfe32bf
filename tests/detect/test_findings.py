"""Findings: deterministic ids, evidence, exceptions (expiry resurfaces), lifecycle."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.detect.engine import evaluate_range
from monitor.detect.schema import RuleValidationError
from monitor.errors import MonitorError
from monitor.findings import (
    effective_status,
    finding_id,
    get_finding,
    list_findings,
    load_exceptions,
    transition,
)
from monitor.store import Store
from monitor.store.search import search

from .helpers import load, make_rule, series

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_finding_id_is_deterministic_and_order_free() -> None:
    a = finding_id("r", {"source.ip": "1.2.3.4", "destination.port": 22}, T0)
    assert a == finding_id("r", {"destination.port": 22, "source.ip": "1.2.3.4"}, T0)
    assert a != finding_id("r", {"source.ip": "1.2.3.4", "destination.port": 22},
                           T0 + timedelta(hours=1))
    assert a != finding_id("r2", {"source.ip": "1.2.3.4", "destination.port": 22}, T0)


def _exceptions(tmp_path: Path, rule_id: str, expires: str) -> Path:
    path = tmp_path / "exceptions.yaml"
    path.write_text(f"""exceptions:
  - id: EXC-1
    rules: [{rule_id}]
    match: {{source.ip: 10.0.0.1}}
    justification: approved quarterly ASV scan from this scanner
    approver: jane.doe (CISO)
    expires: {expires}
""")
    return path


def test_exceptions_file_errors_are_precise(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("exceptions:\n  - id: X1\n    approver: a\n    expires: soon\n")
    with pytest.raises(RuleValidationError) as info:
        load_exceptions(path)
    fields = {i.field for i in info.value.issues}
    assert {"exceptions.0.justification", "exceptions.0.expires", "exceptions.0.approver"} <= fields


async def test_write_evidence_exception_and_lifecycle(dstore: Store, tmp_path: Path) -> None:
    rule = make_rule(type="match", query="event.action:Accept AND rule.name:Cleanup",
                     group_by=["source.ip"], severity="high", risk_score=60,
                     threat=[{"tactic": "TA0005", "techniques": ["T1562.004"]}],
                     pci_dss_v4_0_1=["1.3.1"])
    docs = series(T0, 3, timedelta(seconds=10), event__action="Accept", rule__name="Cleanup",
                  source__ip="10.0.0.1")
    docs += series(T0, 2, timedelta(seconds=10), event__action="Accept", rule__name="Cleanup",
                   source__ip="10.0.0.2")
    await load(dstore, docs)
    excs = load_exceptions(_exceptions(tmp_path, rule.id, "2026-03-10"))
    now = T0 + timedelta(hours=1)
    first = await evaluate_range([rule], dstore, T0, T0 + timedelta(minutes=10), write=True,
                                 exceptions=excs, now=now)
    assert (first.findings, first.created, first.excepted) == (2, 2, 1)
    again = await evaluate_range([rule], dstore, T0, T0 + timedelta(minutes=10), write=True,
                                 exceptions=excs, now=now)
    assert (again.created, again.duplicates) == (0, 2)  # same ids: never a second finding

    by_ip = {d["finding"]["group_key"]: d for d in first.results}
    waived = by_ip["source.ip=10.0.0.1"]
    assert waived["finding"]["exception"] == "EXC-1"
    assert effective_status(waived, now) == "excepted"
    assert effective_status(waived, datetime(2026, 3, 11, tzinfo=UTC)) == "open"  # expired
    open_one = by_ip["source.ip=10.0.0.2"]
    assert open_one["source"]["ip"] == "10.0.0.2"
    assert open_one["threat"]["technique"]["id"] == ["T1562.004"]
    assert open_one["pci"]["requirements"] == ["1.3.1"]
    assert open_one["finding"]["count"] == 2 and len(open_one["finding"]["sample_ids"]) == 2

    # the stored query re-runs: the evidence search returns exactly the sample events
    evidence = open_one["finding"]["query"]["evidence"]
    rerun = await search(dstore, "events", evidence)
    assert [h["_id"] for h in rerun["hits"]["hits"]] == open_one["finding"]["sample_ids"]

    # after expiry a new evaluation writes open findings again (new window → new id)
    later = await evaluate_range([rule], dstore, T0, T0 + timedelta(minutes=10), write=False,
                                 exceptions=excs, now=datetime(2026, 3, 11, tzinfo=UTC))
    assert later.excepted == 0

    fid = open_one["finding"]["id"]
    with pytest.raises(MonitorError, match="who and why"):
        await transition(dstore, fid, "acknowledged", "alice", " ")
    await transition(dstore, fid, "acknowledged", "alice", "looking into it")
    with pytest.raises(MonitorError, match="cannot move to acknowledged"):
        await transition(dstore, fid, "acknowledged", "bob", "again")
    await transition(dstore, fid, "closed", "bob", "cleanup rule fixed in CHG0001")
    stored = await get_finding(dstore, fid)
    assert stored is not None and stored["finding"]["status"] == "closed"
    history = stored["finding"]["history"]
    assert [(h["by"], h["to"]) for h in history] == [("monitor", "open"), ("alice", "acknowledged"),
                                                     ("bob", "closed")]
    assert history[-1]["why"] == "cleanup rule fixed in CHG0001"
    with pytest.raises(MonitorError, match="is closed"):
        await transition(dstore, fid, "acknowledged", "carol", "reopen?")
    assert [d["finding"]["id"] for d in await list_findings(dstore, status="closed")] == [fid]
    assert [d["finding"]["id"] for d in await list_findings(dstore, status="excepted",
                                                            now=now)] == [waived["finding"]["id"]]
