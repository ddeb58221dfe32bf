"""Rules that read the inventory: sets expanded at bind time (terms, never text), the finding
records the inventory version, a changed inventory applies at the next run, a rule whose set
is empty waits, and the pack lint refuses literal networks and calendars in stable rules."""
from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from monitor.detect.bind import bind, inventory_needs
from monitor.detect.compile import base_query, calendar_filter
from monitor.detect.engine import evaluate_due, evaluate_range, state_key
from monitor.detect.lint import lint
from monitor.detect.loader import load_rules
from monitor.inventory import inventory_from_dict
from monitor.store import StateStore, Store

from .helpers import event, load, make_rule

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday

CDE_RULE = dict(type="match", query="event.action:Accept",
                filters=[{"terms": {"destination.ip": "$inventory.cde_networks"}},
                         {"bool": {"must_not": [{"terms": {
                             "user.name": "$inventory.generic_accounts"}}]}}],
                group_by=["destination.ip"],
                schedule={"interval": "5m", "lookback": "10m", "delay": "0s"})
INV_A = inventory_from_dict({"zones": [{"name": "cde", "cde": True, "networks": ["10.20.0.0/16"]}],
                             "generic_accounts": ["admin"]})
INV_B = inventory_from_dict({"zones": [{"name": "card", "cde": True,
                                        "networks": ["172.31.0.0/16"]}],
                             "generic_accounts": ['x" OR *:*']})


def test_bind_expands_sets_into_terms_never_text() -> None:
    rule = make_rule(**CDE_RULE)
    assert inventory_needs(rule) == ["cde_networks", "generic_accounts"]
    bound = bind(rule, INV_B).rule
    assert bound is not None and bound.bound_inventory == INV_B.digest()
    query = base_query(bound)
    text = orjson.dumps(query).decode()
    assert "$inventory" not in text and "query_string\":{\"query\":\"event.action:Accept" in text
    filters = query["bool"]["filter"]
    assert {"terms": {"destination.ip": ["172.31.0.0/16"]}} in filters
    # a hostile inventory value stays one term value: it never reaches the Lucene text
    (names,) = [f["bool"]["must_not"][0]["terms"]["user.name"] for f in filters if "bool" in f]
    assert 'x" OR *:*' in names and "*:*" not in text.split('"query":')[1].split("}")[0]
    missing = bind(rule, inventory_from_dict({})).missing
    assert missing == ("cde_networks",)
    assert bind(rule, None).rule is None


def test_calendar_from_the_inventory() -> None:
    rule = make_rule(type="match", query="*", calendar={"inventory": "change_windows"})
    inventory = inventory_from_dict({"change_windows": [
        {"days": ["tue", "thu"], "start": "20:00", "end": "23:59"}]})
    bound = bind(rule, inventory).rule
    assert bound is not None
    ranges = calendar_filter(bound, T0, T0 + timedelta(days=3))["bool"]["must_not"][0][
        "bool"]["should"]
    starts = sorted(r["range"]["@timestamp"]["gte"] for r in ranges)
    assert "2026-03-03T20:00:00.000Z" in starts and "2026-03-05T20:00:00.000Z" in starts
    assert all(datetime.fromisoformat(s.replace("Z", "+00:00")).weekday() in (1, 3)
               for s in starts)
    assert bind(rule, inventory_from_dict({})).missing == ("change_windows",)


async def test_finding_records_inventory_and_changes_apply_next_run(dstore: Store) -> None:
    rule = make_rule(**CDE_RULE)
    state = StateStore(dstore)
    await load(dstore, [event(T0 - timedelta(minutes=3), event__action="Accept",
                              destination__ip="10.20.1.1"),
                        event(T0 + timedelta(minutes=2), event__action="Accept",
                              destination__ip="172.31.1.1"),
                        event(T0 + timedelta(minutes=3), event__action="Accept",
                              destination__ip="10.20.1.2")])
    first = await evaluate_due([rule], dstore, state, T0, inventory=INV_A)
    assert [d["finding"]["group_key"] for d in first.results] == [] and first.findings == 1
    got = await dstore.es.search(index=dstore.names.read("findings"), query={"match_all": {}})
    doc = got["hits"]["hits"][0]["_source"]
    assert doc["finding"]["group_key"] == "destination.ip=10.20.1.1"
    assert doc["finding"]["extra"]["inventory_sha256"] == INV_A.digest()
    # the inventory changes between runs (no restart): the next window is judged with B
    second = await evaluate_due([rule], dstore, state, T0 + timedelta(minutes=5), inventory=INV_B,
                                dry_run=True)
    assert [d["finding"]["group_key"] for d in second.results] == ["destination.ip=172.31.1.1"]
    assert second.results[0]["finding"]["extra"]["inventory_sha256"] == INV_B.digest()


async def test_unbound_rule_waits_and_is_judged_once_the_inventory_has_it(dstore: Store) -> None:
    rule = make_rule(**CDE_RULE)
    state = StateStore(dstore)
    await load(dstore, [event(T0 - timedelta(minutes=3), event__action="Accept",
                              destination__ip="10.20.1.1")])
    empty = inventory_from_dict({})
    waiting = await evaluate_due([rule], dstore, state, T0, inventory=empty)
    assert waiting.unbound == {rule.id: ("cde_networks",)} and waiting.findings == 0
    assert await state.get(state_key(rule.id)) is None  # the window did not move
    judged = await evaluate_due([rule], dstore, state, T0 + timedelta(minutes=1),
                                inventory=INV_A, dry_run=True)
    assert [d["finding"]["group_key"] for d in judged.results] == ["destination.ip=10.20.1.1"]
    ranged = await evaluate_range([rule], dstore, T0 - timedelta(hours=1), T0)
    assert ranged.unbound == {rule.id: ("cde_networks", "generic_accounts")}


def test_lint_refuses_literal_networks_and_calendars_in_stable_rules(tmp_path: Path) -> None:
    src = load_rules().by_id["5b0e7c1a-3d5e-4f7a-9a41-0c2f6b7d8e01"].path  # port scan
    text = src.read_text()
    shutil.copy(src.with_name("cp_port_scan.fixtures.yaml"), tmp_path)
    (tmp_path / src.name).write_text(text.replace(
        "query: 'observer.vendor:Checkpoint", "query: 'NOT source.ip:\"10.1.0.0\\/16\" AND "
        "observer.vendor:Checkpoint").replace(
        "group_by: [source.ip]", "group_by: [source.ip]\ncalendar: {days: [1, 2], hours: "
        "\"09:00-17:00\"}\n", 1))
    issues = [str(i) for i in lint(load_rules([tmp_path]))]
    assert any("literal private network" in i and "10.1.0.0/16" in i for i in issues), issues
    assert any("calendar" in i and "literal" in i for i in issues), issues
    (tmp_path / src.name).write_text(text.replace("status: stable", "status: test").replace(
        "query: 'observer.vendor:Checkpoint", "query: 'NOT source.ip:\"10.1.0.0\\/16\" AND "
        "observer.vendor:Checkpoint"))
    assert not [i for i in lint(load_rules([tmp_path])) if "literal" in str(i)]
    (tmp_path / src.name).write_text(text.replace("$inventory.approved_scanners",
                                                  "$inventory.aproved_scanners"))
    assert any("aproved_scanners" in str(i) for i in lint(load_rules([tmp_path])))
    # the shipped pack is clean
    assert not [i for i in lint(load_rules()) if "literal" in str(i) or "inventory" in str(i)]
