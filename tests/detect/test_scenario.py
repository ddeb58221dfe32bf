"""A simulated working day of Check Point traffic (monitor.simulate.checkpoint → the Check Point
normalizer → Elasticsearch), evaluated with every enabled pack rule: the clean day yields no
finding; the day with injected scenarios yields exactly the expected findings."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.detect.engine import evaluate_range
from monitor.detect.loader import load_rules
from monitor.model import Document, RawRecord
from monitor.normalize.checkpoint import normalize_checkpoint
from monitor.simulate.checkpoint import (
    ADMINS,
    BruteForce,
    HostSweep,
    OutOfBandChange,
    PortScan,
    SimConfig,
    generate,
)
from monitor.store import BulkWriter, Store

from .helpers import event, load

START = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)  # a Tuesday, inside business hours
COUNT, RATE = 6000, 0.2  # 30,000 s: 08:00 .. 16:20
HOUR = 3600.0


async def _simulate(store: Store, scenarios: tuple = ()) -> datetime:
    docs, last = [], START
    for moment, line in generate(SimConfig(count=COUNT, seed=11, start=START,
                                           events_per_second=RATE, scenarios=scenarios)):
        doc = normalize_checkpoint(RawRecord("sim", line.encode(), moment))
        assert isinstance(doc, Document), doc
        docs.append(doc)
        last = max(last, moment)
    result = await BulkWriter(store).write(docs, refresh=True)
    assert result.indexed == len(docs)
    # the administrators' usual workstations, seen over the 14 days before (the new-terms
    # history: with less indexed history the rule is still learning and judges nothing)
    await load(store, [event(START - timedelta(days=6, hours=-i % 8), checkpoint__operation="Log In",
                             event__outcome="success", user__name=admin,
                             source__ip=f"10.0.5.{i}", observer__vendor="Checkpoint")
                       for admin in ADMINS for i in range(2, 41)]
               + [event(START - timedelta(days=15), checkpoint__operation="Log In",
                        event__outcome="success", user__name="alice", source__ip="10.0.5.2",
                        observer__vendor="Checkpoint")])
    return last


async def _findings(store: Store, last: datetime) -> dict[str, list[str]]:
    rules = [r for r in load_rules() if r.enabled]
    stats = await evaluate_range(rules, store, START, last + timedelta(seconds=1),
                                 max_segment=timedelta(hours=2))
    assert not stats.errors, stats.errors
    out: dict[str, list[str]] = {}
    for doc in stats.results:
        out.setdefault(doc["rule"]["name"], []).append(doc["finding"]["group_key"])
    return {k: sorted(v) for k, v in out.items()}


async def test_clean_day_has_no_finding(dstore: Store) -> None:
    last = await _simulate(dstore)
    assert last > START + timedelta(hours=8)
    got = await _findings(dstore, last)
    assert got == {}


async def test_injected_scenarios_give_exactly_the_expected_findings(dstore: Store) -> None:
    last = await _simulate(dstore, (
        PortScan(attacker="203.0.113.66", target="10.20.5.10", at=2.5 * HOUR, ports=40),
        HostSweep(attacker="198.51.100.77", subnet="10.1.2.0/24", at=3.5 * HOUR, hosts=50),
        BruteForce(attacker="192.0.2.200", admin="admin", at=4.5 * HOUR, failures=8),
        OutOfBandChange(admin="rogue", client_ip="10.9.9.9", at=5.5 * HOUR)))
    got = await _findings(dstore, last)
    expected = EXPECTED
    assert {k: len(v) for k, v in got.items()} == {k: len(v) for k, v in expected.items()}
    for name, groups in expected.items():
        for want, have in zip(groups, got[name], strict=True):
            assert want is None or want == have, (name, want, have)


#: rule name → sorted finding groups (None: any value, e.g. the Publish/Install loguids)
EXPECTED: dict[str, list[str | None]] = {
    "Port scan from a single source": ["source.ip=203.0.113.66"],
    "Host sweep from a single source": ["source.ip=198.51.100.77"],
    "Firewall admin brute force": ["source.ip=192.0.2.200"],
    "Admin login success after repeated failures": ["source.ip=192.0.2.200"],
    "Firewall admin login from a new address": ["source.ip=192.0.2.200|user.name=admin"],
    "Firewall rule action changed to Accept": ["checkpoint.session_uid=|user.name=rogue"],
    "Out-of-band firewall policy install or publish": [None, None],  # Publish + Install Policy
}
