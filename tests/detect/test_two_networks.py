"""Must show: the whole pack over a simulated clean day and over every scenario, on TWO
different networks (the example inventory's and one unlike it), each described only by its
inventory. Every scenario is found exactly once by the rule meant for it, clean traffic and the
management server's quiet hours give no finding, an approved GitOps install (PR + deployment
in the forge data) is flagged by no rule and fails no control (CHK-01, CHK-02)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.compliance import load_controls, load_sources
from monitor.compliance.gather import gather_evidence
from monitor.compliance.queries import Period
from monitor.detect.engine import evaluate_range
from monitor.detect.loader import load_rules
from monitor.inventory import Inventory, inventory_from_dict, load_inventory
from monitor.model import Document, RawRecord
from monitor.normalize.checkpoint import normalize_checkpoint
from monitor.resources import rules_dir
from monitor.simulate.checkpoint import (
    AcceptOnCleanup,
    AdminAtNight,
    BruteForce,
    CleartextIntoCde,
    DropFlood,
    ExpertShell,
    GatewayOutage,
    GitOpsInstall,
    HostSweep,
    LoggingDisabled,
    OutOfBandChange,
    PortScan,
    SimConfig,
    SmbToInternet,
    ThreatNotPrevented,
    VpnLogonFailures,
    generate,
)
from monitor.simulate.network import Network
from monitor.store import BulkWriter, Store

from .helpers import event, load

START = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)  # a Tuesday
COUNT, RATE, HOUR = 11000, 0.2, 3600.0  # 08:00 .. 23:16: office hours and the evening
QUIET = (START + timedelta(hours=4), START + timedelta(hours=7))  # management server quiet
SHA = "9c1d3f2a0e8b7a6f5e4d3c2b1a0f9e8d7c6b5a41"

OTHER = inventory_from_dict({
    "zones": [{"name": "office", "role": "office", "networks": ["172.16.40.0/22"]},
              {"name": "admins", "networks": ["172.16.99.0/24"]},
              {"name": "card", "cde": True, "role": "db", "networks": ["192.168.200.0/24"]}],
    "chd_hosts": [{"name": "vault", "ip": "192.168.200.20", "zone": "card"}],
    "gateways": [{"name": "fw-north", "ip": "172.16.0.2", "zones": ["office", "admins"]},
                 {"name": "fw-card", "ip": "192.168.200.1", "perimeter": True,
                  "zones": ["card"]}],
    "management_servers": [{"name": "smc-1", "ip": "172.16.0.9", "repos": ["netsec-policy"]}],
    "admin_workstations": ["172.16.99.0/24"],
    "administrators": [{"name": "dmitri"}, {"name": "esme"}],
    "deploy_identities": ["policy-bot"],
    "business_hours": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "06:00",
                        "end": "20:00"}],
    "change_windows": [{"days": ["wed"], "start": "01:00", "end": "05:00"}],
    "production_environments": ["prd"],
}, "the other network")
EXAMPLE = load_inventory(rules_dir() / "inventory.example.yaml")


def _scenarios(inventory: Inventory, net: Network) -> tuple:
    return (PortScan(attacker="203.0.113.66", at=2.5 * HOUR, ports=40),
            HostSweep(attacker="198.51.100.77", at=3.5 * HOUR, hosts=50),
            BruteForce(attacker="192.0.2.200", admin="admin", at=4.5 * HOUR, failures=8),
            OutOfBandChange(admin="rogue", client_ip="198.51.100.9", at=5.5 * HOUR),
            CleartextIntoCde(at=6.5 * HOUR),
            GitOpsInstall(deployer=inventory.deploy_identities[0], sha=SHA, at=7 * HOUR,
                          repo=(inventory.management_servers[0].repos or ["policy"])[0]),
            AcceptOnCleanup(at=7.5 * HOUR),
            VpnLogonFailures(attacker="198.51.100.44", users=1, attempts=12, at=8 * HOUR),
            VpnLogonFailures(attacker="198.51.100.45", users=9, attempts=9, interval=30.0,
                             at=8.5 * HOUR),
            ExpertShell(at=9 * HOUR),
            ThreatNotPrevented(at=9.25 * HOUR),
            LoggingDisabled(at=9.5 * HOUR),
            DropFlood(at=10 * HOUR),
            GatewayOutage(at=11 * HOUR, minutes=40),
            SmbToInternet(at=12 * HOUR),
            AdminAtNight(at=14 * HOUR))  # 22:00, outside both inventories' business hours


def expected(net: Network) -> dict[str, list[str | None]]:
    return {
        "Port scan from a single source": ["source.ip=203.0.113.66"],
        "Host sweep from a single source": ["source.ip=198.51.100.77"],
        "Firewall admin brute force": ["source.ip=192.0.2.200"],
        "Admin login success after repeated failures": ["source.ip=192.0.2.200"],
        "Firewall admin login from a new address": ["source.ip=192.0.2.200|user.name=admin"],
        "Firewall rule action changed to Accept": ["checkpoint.session_uid=|user.name=rogue"],
        "Out-of-band firewall policy install or publish": [None, None],  # Publish + Install
        "Traffic accepted by a cleanup or any-any rule": [None],
        "Sigma: SMB Accepted Towards a Public Address": [
            f"destination.ip=203.0.113.140|destination.port=445|"
            f"source.ip={net.office_prefix}45"],
        "Commit signed by someone other than its committer": [
            f"change.repo=web|change.sha={'6' * 40}"],
        "Production deployment outside the change window": [
            "change.deployment.id=77|change.repo=payments-api"],
        "Deployment without passing checks": ["change.deployment.id=78|change.repo=web"],
        "Direct push to a protected branch": [f"change.repo=web|change.sha={'3' * 40}"],
        "History rewritten on a protected branch": ["change.branch=main|change.repo=web"],
        "Pull request merged without independent approval": [
            "change.pull_request.number=12|change.repo=web"],
        "Critical IPS or Anti-Bot detection not prevented": [
            "checkpoint.protection_name=Apache Log4j Remote Code Execution|"
            "source.ip=203.0.113.77"],
        "Logging disabled on a firewall rule": [None],
        "Spike in dropped connections on a gateway": [None],
        "Check Point gateway stopped sending logs": [None],
        "VPN brute force from one source": ["source.ip=198.51.100.44"],
        "VPN password spraying from one source": ["source.ip=198.51.100.45"],
        "Expert Shell login on a gateway": [
            f"source.ip={net.admin_prefix}9|user.name={net.admins[-1]}"],
        "Firewall administration outside business hours": [f"user.name={net.admins[1]}"],
        "Cleartext protocol accepted into the CDE": [
            f"destination.ip={net.cde_host}|destination.port=23|"
            f"source.ip={net.office_prefix}44"],
    }


async def _simulate(store: Store, inventory: Inventory, scenarios: bool) -> datetime:
    net = Network.from_inventory(inventory)
    config = SimConfig(count=COUNT, seed=11, start=START, events_per_second=RATE, network=net,
                       scenarios=_scenarios(inventory, net) if scenarios else ())
    docs, last = [], START
    for moment, line in generate(config):
        if QUIET[0] <= moment < QUIET[1] and f'origin:"{net.mgmt_ip}"' in line \
                and "Install Policy" not in line and "Publish" not in line \
                and "Modify Rule" not in line and "Log In" not in line:
            continue  # the management server's quiet hours: no routine audit events at all
        doc = normalize_checkpoint(RawRecord("sim", line.encode(), moment))
        assert isinstance(doc, Document), doc
        docs.append(doc)
        last = max(last, moment)
    result = await BulkWriter(store).write(docs, refresh=True)
    assert result.indexed == len(docs)
    # history: the administrators' workstations over the 14 days before (new-terms), a day of
    # every gateway and the management server before the day (flatline), all from the network
    history = [event(START - timedelta(days=6, hours=-i % 8), checkpoint__operation="Log In",
                     event__outcome="success", user__name=admin,
                     source__ip=f"{net.admin_prefix}{i}", observer__vendor="Checkpoint")
               for admin in net.admins for i in range(2, 41)]
    history.append(event(START - timedelta(days=15), checkpoint__operation="Log In",
                         event__outcome="success", user__name=net.admins[0],
                         source__ip=f"{net.admin_prefix}2", observer__vendor="Checkpoint"))
    for origin in [ip for _, ip in net.gateways] + [net.mgmt_ip]:
        history += [event(START - timedelta(minutes=10 * k), observer__vendor="Checkpoint",
                          observer__name=origin, event__action="Accept", seq=k)
                    for k in range(1, 24 * 6 + 2)]
    await load(store, history)
    # the forge data behind the GitOps install: the approving PR and the deployment
    repo = (inventory.management_servers[0].repos or ["policy"])[0]
    merged = START + timedelta(hours=6, minutes=40)
    await load(store, [
        event(merged, change__kind="pull_request", change__sha=SHA, change__repo=repo,
              change__independent_approval=True, change__checks_passed=True),
        event(merged + timedelta(minutes=5), change__kind="deployment", change__sha=SHA,
              change__repo=repo, change__checks_passed=True, change__environment="ci",
              change__deployment__id="d-1",
              change__deployment__creator=inventory.deploy_identities[0])], kind="changes")
    if scenarios:  # the Git side's incidents, as the forge sync writes them
        await load(store, _git_incidents(inventory), kind="changes")
    return last


def _git_incidents(inventory: Inventory) -> list[tuple[str, dict]]:
    prod = inventory.production_environments[0]
    at = START + timedelta(hours=8)  # 16:00 Tuesday: outside both inventories' change windows
    return [
        event(at, change__kind="deployment", change__repo="payments-api", change__sha="1" * 40,
              change__deployment__id="77", change__environment=prod, change__checks_passed=True),
        event(at + timedelta(minutes=5), change__kind="deployment", change__repo="web",
              change__sha="2" * 40, change__deployment__id="78", change__environment="staging",
              change__checks_passed=False),
        event(at + timedelta(minutes=10), change__kind="direct_push", change__repo="web",
              change__branch="main", change__sha="3" * 40),
        event(at + timedelta(minutes=15), change__kind="history_rewrite", change__repo="web",
              change__branch="main", change__sha="4" * 40),
        event(at + timedelta(minutes=20), change__kind="pull_request", change__repo="web",
              change__sha="5" * 40, change__pull_request__number=12,
              change__independent_approval=False, change__checks_passed=True),
        event(at + timedelta(minutes=25), change__kind="commit", change__repo="web",
              change__sha="6" * 40, change__signature__matches_committer=False),
    ]


async def _findings(store: Store, inventory: Inventory, last: datetime) -> dict[str, list[str]]:
    rules = [r for r in load_rules() if r.enabled]
    stats = await evaluate_range(rules, store, START, last + timedelta(seconds=1),
                                 max_segment=timedelta(hours=2), inventory=inventory)
    assert not stats.errors and not stats.unbound, (stats.errors, stats.unbound)
    out: dict[str, list[str]] = {}
    for doc in stats.results:
        out.setdefault(doc["rule"]["name"], []).append(doc["finding"]["group_key"])
        assert doc["finding"]["extra"].get("inventory_sha256") in (None, inventory.digest())
    return {k: sorted(v) for k, v in out.items()}


async def _change_controls(store: Store, inventory: Inventory, last: datetime
                           ) -> dict[str, tuple[str, list[dict], list[dict]]]:
    """CHK-01 and CHK-02 over the day: status, matched rows, unmatched rows."""
    sources = load_sources()
    controls = [c for c in load_controls(sources=sources) if c.id in ("CHK-01", "CHK-02")]
    period = Period(START, last + timedelta(seconds=1))
    result = await gather_evidence(controls, sources, inventory, store, period,
                                   last + timedelta(hours=1))
    out = {}
    for cid in ("CHK-01", "CHK-02"):
        (outcome,) = result.evidence[cid].outcomes
        out[cid] = (outcome.status.value, outcome.details.get("matched", []),
                    outcome.details.get("unmatched", []))
    return out


@pytest.mark.parametrize("inventory", [EXAMPLE, OTHER], ids=["example", "other"])
async def test_clean_day_and_quiet_management_server_give_nothing(dstore: Store,
                                                                  inventory: Inventory) -> None:
    last = await _simulate(dstore, inventory, scenarios=False)
    assert last > START + timedelta(hours=15)
    assert await _findings(dstore, inventory, last) == {}
    controls = await _change_controls(dstore, inventory, last)
    assert controls["CHK-02"][0] == "pass", controls  # no human change outside an approved one
    assert controls["CHK-01"][0] in ("pass", "not_applicable"), controls


@pytest.mark.parametrize("inventory", [EXAMPLE, OTHER], ids=["example", "other"])
async def test_every_scenario_found_once_by_its_rule(dstore: Store, inventory: Inventory) -> None:
    net = Network.from_inventory(inventory)
    last = await _simulate(dstore, inventory, scenarios=True)
    got = await _findings(dstore, inventory, last)
    want = expected(net)
    assert {k: len(v) for k, v in got.items()} == {k: len(v) for k, v in want.items()}, got
    for name, groups in want.items():
        for wanted, have in zip(groups, got[name], strict=True):
            assert wanted is None or wanted == have, (name, wanted, have)
    # the approved GitOps install is in the data, and no rule flagged it
    flagged = [g for groups in got.values() for g in groups
               if inventory.deploy_identities[0] in g or SHA[:12] in g]
    assert not flagged
    # the controls agree: the GitOps install matches its approved change, the out-of-band
    # Publish and Install are unmatched (CHK-01), the rogue's edits with them (CHK-02)
    controls = await _change_controls(dstore, inventory, last)
    status, matched, unmatched = controls["CHK-01"]
    assert status == "fail" and sum(r["count"] for r in unmatched) == 2, controls["CHK-01"]
    assert any(SHA[:12] in (r["reference"] or "") for r in matched), matched
    assert not any(SHA[:12] in (r["reference"] or "") for r in unmatched), unmatched
    status, _matched, unmatched = controls["CHK-02"]
    assert status == "fail", controls["CHK-02"]
    # the rogue's edit, and the incidents' human edits whose ticket no approved change carries
    assert "rogue" in {i for r in unmatched for i in r["identities"]}, unmatched


def test_simulate_cli_places_traffic_on_the_inventorys_network(tmp_path, capsys) -> None:
    import yaml

    from monitor.cli.main import main

    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(OTHER.model_dump(mode="json")))
    assert main(["simulate", "checkpoint", "--count", "400", "--inventory", str(path),
                 "--start", "2026-03-03T09:00:00Z",
                 "--scenario", "cleartext_into_cde", "--scenario", "port_scan"]) == 0
    out = capsys.readouterr().out
    assert 'origin:"192.168.200.1"' in out and 'origin:"172.16.0.9"' in out
    assert "10.20." not in out and "10.0.0.1\"" not in out  # nothing of the built-in network
    assert 'dst:"192.168.200.10"; inzone' in out  # the scan and the Telnet hit its CDE host
