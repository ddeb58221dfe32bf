"""Sequence rules: the aggregation path runs here; on a cluster with EQL the engine switches to
an EQL search with the same semantics and the same finding ids (checked with an EQL response
built from the same events, since this build has no EQL)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.detect.compile import sequence_eql
from monitor.detect.drive import rule_gen as _rule_gen
from monitor.detect.engine import evaluate_range
from monitor.detect.types.base import Ctx
from monitor.store import Capabilities, Store

from .helpers import load, make_rule, series

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def seq_rule():
    return make_rule(type="sequence", group_by=["source.ip"], severity="critical", risk_score=80,
                     sequence={"within": "15m", "steps": [
                         {"name": "failed", "where": {"checkpoint.operation": "Log In",
                                                      "event.outcome": "failure"}, "min_count": 5},
                         {"name": "success", "where": {"checkpoint.operation": "Log In",
                                                       "event.outcome": "success"}}]})


def test_eql_text() -> None:
    assert sequence_eql(seq_rule()) == (
        'sequence by source.ip with maxspan=900s '
        '[any where checkpoint.operation == "Log In" and event.outcome == "failure"] with runs=5 '
        '[any where checkpoint.operation == "Log In" and event.outcome == "success"]')
    lucene = make_rule(type="sequence", group_by=["source.ip"], sequence={"within": "1m", "steps": [
        {"name": "a", "query": "x:1"}, {"name": "b", "query": "y:2"}]})
    assert sequence_eql(lucene) is None  # Lucene steps cannot become EQL: aggregation path


async def test_capability_switch_and_same_findings(dstore: Store) -> None:
    assert dstore.capabilities is not None and not dstore.capabilities.has("eql")
    rule = seq_rule()
    fails = series(T0 + timedelta(minutes=1), 5, timedelta(seconds=20), source__ip="10.5.5.5",
                   checkpoint__operation="Log In", event__outcome="failure")
    ok = series(T0 + timedelta(minutes=4), 1, timedelta(seconds=1), source__ip="10.5.5.5",
                checkpoint__operation="Log In", event__outcome="success")
    await load(dstore, fails + ok)
    start, end = T0, T0 + timedelta(minutes=10)
    agg = await evaluate_range([rule], dstore, start, end)  # minimal build: aggregation path
    assert [d["finding"]["group_key"] for d in agg.results] == ["source.ip=10.5.5.5"]

    # a full cluster: the generator asks for one EQL search instead of aggregations
    gen = _rule_gen(Ctx(rule, start, end, eql=True))
    (request,) = next(gen)
    assert request.eql and request.body["query"] == sequence_eql(rule)
    assert Capabilities("9.5.4", frozenset({"x-pack-eql"})).has("eql")
    events = [{"_id": i, "_source": d} for i, d in fails + ok]
    response = {"hits": {"sequences": [{"join_keys": ["10.5.5.5"], "events": events}]}}
    drafts = gen.send([response])
    try:  # the evidence step follows: answer it with the same sample ids
        drafts = gen.send([{"hits": {"hits": [{"_id": i} for i, _ in fails + ok][:5]}}])
    except StopIteration as stop:
        drafts = stop.value
    from monitor.detect.engine import to_finding
    eql_ids = [to_finding(rule, d, dstore).id for d in drafts]
    assert eql_ids == [d["finding"]["id"] for d in agg.results]
