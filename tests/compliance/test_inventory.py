"""Inventory: strict YAML, CSV import, the derived query values, storing and reading back."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from monitor.cli.main import main
from monitor.errors import RuleError
from monitor.inventory import (
    csv_rows_to_dict,
    inventory_from_dict,
    load_inventory,
    read_inventory,
    store_inventory,
)
from monitor.resources import rules_dir

EXAMPLE = rules_dir() / "inventory.example.yaml"


def test_example_matches_the_simulator() -> None:
    from monitor.simulate.checkpoint import GATEWAYS, MGMT_IP
    inventory = load_inventory(EXAMPLE)
    params = inventory.params()
    assert {ip for _, ip in GATEWAYS} == set(params["gateways"])
    assert params["cde_networks"] == ["10.20.0.0/16"]
    import ipaddress
    trusted = [ipaddress.ip_network(n) for n in params["trusted_networks"]]
    assert any(ipaddress.ip_address(MGMT_IP) in n for n in trusted)
    assert not any(ipaddress.ip_address("203.0.113.66") in n for n in trusted)


def test_strict_schema_reports_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(textwrap.dedent("""
        zones:
          - name: cde
            cde: yes
            networks: [10.20.0.0/33]
            allowed_inbound: [{port: 443}]
          - {name: cde, networks: [10.0.0.0/8], colour: red}
        chd_hosts: [{name: db, ip: 10.20.1.300}]
        """))
    with pytest.raises(RuleError) as err:
        load_inventory(path)
    text = str(err.value)
    assert f"{path}: zones.0.networks.0: not an IP network" in text or "10.20.0.0/33" in text
    assert "zones.0.allowed_inbound.0.justification: Field required" in text
    assert "zones.1.colour: unknown key" in text
    assert "chd_hosts.0.ip" in text
    dup = tmp_path / "dup.yaml"
    dup.write_text("go_live: 2026-01-01\ngo_live: 2026-02-01\n")
    with pytest.raises(RuleError, match="duplicate key 'go_live'"):
        load_inventory(dup)
    refs = {"zones": [{"name": "a", "networks": ["10.0.0.0/8"]}, {"name": "a", "networks": ["10.1.0.0/16"]}],
            "gateways": [{"name": "gw", "zones": ["nope"]}]}
    with pytest.raises(RuleError, match="zone names used twice: a"):
        inventory_from_dict(refs)


def test_csv_import_merges_over_yaml(tmp_path: Path) -> None:
    rows = tmp_path / "extra.csv"
    rows.write_text(textwrap.dedent("""\
        type,name,ip,networks,port,transport,flags,email,justification
        zone,lab-wifi,,10.91.0.0/16,,,untrusted wireless,,
        chd_host,db-card-3,10.20.5.12,,,,,,
        allowed_inbound,cde,,,8443,tcp,,,admin API (CHG100099)
        administrator,dave,,,,,,dave@example.com,
        gateway,gw-lab-1,10.91.0.1,,,,perimeter,,
        """))
    inventory = load_inventory(EXAMPLE, [rows])
    params = inventory.params()
    assert "10.91.0.0/16" in params["wireless_networks"]
    assert "10.20.5.12" in params["chd_hosts"]
    assert "dave" in params["administrators"]
    assert "10.91.0.1" in params["perimeter_gateways"]
    cde = next(z for z in inventory.zones if z.name == "cde")
    assert any(s.port == 8443 for s in cde.allowed_inbound)
    with pytest.raises(RuleError, match=r"bad.csv:2: allowed_inbound: unknown zone 'nope'"):
        csv_rows_to_dict("type,name,port\nallowed_inbound,nope,22\n", "bad.csv")
    with pytest.raises(RuleError, match=r"bad.csv:2: type: unknown row type 'router'"):
        csv_rows_to_dict("type,name\nrouter,r1\n", "bad.csv")
    only_csv = tmp_path / "only.csv"
    only_csv.write_text("type,name,ip,networks,flags\nzone,cde,,10.20.0.0/16,cde\n")
    assert load_inventory(only_csv).params()["cde_networks"] == ["10.20.0.0/16"]


def test_expired_exceptions_drop_out() -> None:
    inventory = inventory_from_dict({"insecure_exceptions": [
        {"destination": "10.20.5.10", "port": 23, "justification": "legacy", "approver": "ciso",
         "expires": "2026-06-30"}]})
    from datetime import date
    assert inventory.params(at=date(2026, 6, 1))["insecure_exceptions_query"]["bool"]["should"]
    assert "should" not in inventory.params(at=date(2026, 7, 1))["insecure_exceptions_query"]["bool"]


async def test_store_and_read_back(store) -> None:
    assert await read_inventory(store) is None
    inventory = load_inventory(EXAMPLE)
    count = await store_inventory(store, inventory)
    assert count > 10
    again = await read_inventory(store)
    assert again == inventory
    changed = inventory.model_copy(update={"deploy_identities": ["only-bot"]})
    await store_inventory(store, changed)
    assert (await read_inventory(store)).deploy_identities == ["only-bot"]
    total = await store.es.count(index=store.names.inventory)
    assert total["count"] == count + 1  # replaced in place, plus the new identity item


def test_cli_inventory_check(tmp_path: Path, capsys) -> None:
    assert main(["inventory", "check", str(EXAMPLE)]) == 0
    assert "ok (5 zones" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("zones: [{name: x, networks: [nonsense]}]\n")
    assert main(["inventory", "check", str(bad), "--json"]) == 2
    out = capsys.readouterr().out
    assert '"ok": false' in out and "zones.0.networks: not an IP network" in out


def test_servers_scanners_flows_with_a_source_and_no_wireless() -> None:
    """What a real network needs beyond zones: management/log servers (not gateways), approved
    scanners, admin workstations, zone roles, allowed flows from one tier only, wireless: none."""
    inventory = inventory_from_dict({
        "zones": [{"name": "app", "role": "app", "networks": ["172.16.10.0/24"]},
                  {"name": "card", "cde": True, "role": "db", "networks": ["172.16.20.0/24"],
                   "allowed_inbound": [{"port": 5432, "name": "pg", "from_zones": ["app"],
                                        "justification": "app tier only, CHG000123"}]}],
        "gateways": [{"name": "fw-1", "ip": "172.16.0.1"}],
        "management_servers": [{"name": "smc", "ip": "172.16.0.5", "repos": ["fw-policy"]}],
        "log_servers": [{"name": "log-1"}],
        "admin_workstations": ["172.16.99.0/24"],
        "approved_scanners": [{"name": "scan", "networks": ["172.16.98.7"],
                               "justification": "ASV quarterly"}],
        "wireless": "none"})
    params = inventory.params()
    assert params["gateways"] == ["172.16.0.1"] and params["management_servers"] == ["172.16.0.5"]
    assert params["log_servers"] == ["log-1"] and params["no_wireless"] is True
    assert params["approved_scanners"] == ["172.16.98.7/32"]
    assert params["zone_app_networks"] == ["172.16.10.0/24"]
    flow = params["allowed_inbound_cde"]["bool"]["should"][0]["bool"]["filter"][1]["bool"]["should"][0]
    assert {"terms": {"source.ip": ["172.16.10.0/24"]}} in flow["bool"]["filter"]
    with pytest.raises(RuleError, match="wireless: none, but zones wifi are wireless"):
        inventory_from_dict({"wireless": "none", "zones": [
            {"name": "wifi", "wireless": True, "networks": ["10.9.0.0/16"]}]})
    with pytest.raises(RuleError, match="both as a gateway and as a management"):
        inventory_from_dict({"gateways": [{"name": "x", "ip": "10.0.0.1"}],
                             "management_servers": [{"name": "m", "ip": "10.0.0.1"}]})
    with pytest.raises(RuleError, match="from_zones: unknown zone 'web'"):
        inventory_from_dict({"zones": [{"name": "c", "cde": True, "networks": ["10.2.0.0/16"],
                                        "allowed_inbound": [{"port": 1, "from_zones": ["web"],
                                                             "justification": "why not"}]}]})
    assert inventory.digest() != inventory_from_dict({}).digest()


def test_a_ticket_pattern_in_the_inventory_is_refused_not_ignored(tmp_path: Path) -> None:
    """The inventory once accepted ``ticket_pattern`` and nothing read it (tickets are matched
    by ``monitor.identifiers`` and a repository's own pattern): an operator setting it must
    learn that at load, with the file and the field, rather than trust a knob that does nothing."""
    path = tmp_path / "inv.yaml"
    path.write_text("ticket_pattern: 'OPS-\\\\d+'\n")
    with pytest.raises(RuleError, match=r"ticket_pattern: unknown key"):
        load_inventory(path)
