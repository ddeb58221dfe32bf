"""One reconciliation, used everywhere (real Elasticsearch): the out-of-band rule, control CHK-01
and the report's change-control section give the same verdict for the same install.

One dataset: installs on management server 10.0.0.10 (mapped to ``firewall-policy``) whose
session names the change they come from, and the changes: approved and merged before the
install; merged after it; in a repository mapped to another management server; older than
the 30-day limit; not independently approved; a ticket no change carries; a ticket an approved
change carries; a GitOps install (PR merged and deployed by the pipeline before the install).
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.compliance import load_controls, load_sources
from monitor.compliance.gather import gather_evidence
from monitor.compliance.queries import Period
from monitor.detect.engine import evaluate_due
from monitor.detect.loader import load_rules
from monitor.inventory import load_inventory
from monitor.inventory.load import inventory_from_dict
from monitor.inventory.reconcile import repos_by_origin
from monitor.reports.gather import gather_report
from monitor.reports.inputs import ReportInputs
from monitor.reports.period import custom_period
from monitor.resources import rules_dir
from monitor.store import StateStore, Store
from monitor.store.search import drop_kinds, refresh, search

from .helpers import event, load

DAY = datetime(2026, 11, 24, tzinfo=UTC)
H = timedelta(hours=1)
OUT_OF_BAND = "83b4c5d6-c7d8-42e3-b405-162738495b71"
MGMT = "10.0.0.10"


def _sha(n: int) -> str:
    return f"{n:x}" * 40 if n > 9 else f"c0ffee{n}" + "0" * 33


#: install id → (hour of the install, session name, session description, expected verdict)
CASES: dict[str, tuple[int, str, str, bool]] = {
    "approved-before": (8, f"git:firewall-policy@{_sha(1)[:10]}", "", True),
    "merged-after": (9, f"git:firewall-policy@{_sha(2)[:10]}", "", False),
    "unmapped-repo": (10, f"git:other-policy@{_sha(3)[:10]}", "", False),
    "older-than-limit": (11, f"git:firewall-policy@{_sha(4)[:10]}", "", False),
    "not-approved": (12, f"git:firewall-policy@{_sha(5)[:10]}", "", False),
    "ticket-unseen": (13, "manual change", "CHG0000555", False),
    "ticket-approved": (14, "manual change", "CHG0000666", True),
    "gitops": (15, f"git:firewall-policy@{_sha(7)[:10]}", "CHG0000777", True),
}


def _inventory():
    data = load_inventory(rules_dir() / "inventory.example.yaml").model_dump(mode="json")
    data["management_servers"] = [
        {"name": "cp-mgmt", "ip": MGMT, "repos": ["firewall-policy"]},
        {"name": "cp-mgmt-lab", "ip": "10.9.0.10", "repos": ["other-policy"]}]
    return inventory_from_dict(data, "agreement test")


def _install(name: str) -> tuple[str, dict]:
    hour, session, description, _ = CASES[name]
    return event(DAY + hour * H, event__id=name, event__dataset="checkpoint.audit",
                 event__kind="event", event__category=["configuration"],
                 event__outcome="success", observer__name=MGMT, observer__product="WEB_API",
                 user__name="svc-policy-deployer",
                 checkpoint__administrator="svc-policy-deployer",
                 checkpoint__operation="Install Policy", checkpoint__session_name=session,
                 checkpoint__session_description=description)


def _pr(at: datetime, sha: str, repo: str = "firewall-policy", approved: bool = True,
        tickets: tuple[str, ...] = ()) -> tuple[str, dict]:
    return event(at, event__dataset="github.pull_request", event__kind="event",
                 event__category=["configuration"], event__module="changes",
                 change__kind="pull_request", change__repo=repo, change__sha=sha,
                 change__independent_approval=approved, change__checks_passed=True,
                 change__tickets=list(tickets))


def _changes() -> list[tuple[str, dict]]:
    at = {name: DAY + CASES[name][0] * H for name in CASES}
    return [
        _pr(at["approved-before"] - 2 * H, _sha(1)),
        _pr(at["merged-after"] + H, _sha(2)),
        _pr(at["unmapped-repo"] - 2 * H, _sha(3), repo="other-policy"),
        _pr(at["older-than-limit"] - timedelta(days=40), _sha(4)),
        _pr(at["not-approved"] - 2 * H, _sha(5), approved=False),
        _pr(at["ticket-approved"] - 2 * H, _sha(6), tickets=("CHG0000666",)),
        _pr(at["gitops"] - 2 * H, _sha(7), tickets=("CHG0000777",)),
        event(at["gitops"] - 10 * timedelta(minutes=1), event__dataset="github.deployment",
              event__kind="event", event__module="changes", change__kind="deployment",
              change__repo="firewall-policy", change__sha=_sha(7), change__checks_passed=True,
              change__deployment__creator="gitops-bot", change__environment="production"),
    ]


async def _rule_verdicts(store: Store, inventory) -> dict[str, bool]:
    await drop_kinds(store, ("state",))
    rule = load_rules().get(OUT_OF_BAND)
    rule = rule.model_copy(update={"schedule": rule.schedule.model_copy(update={
        "interval": timedelta(minutes=5), "lookback": timedelta(hours=24),
        "delay": timedelta(seconds=0)})})
    stats = await evaluate_due([rule], store, StateStore(store), DAY + 24 * H,
                               inventory=inventory, max_segment=timedelta(hours=24))
    assert not stats.errors, stats.errors
    await refresh(store, ("findings",))
    answer = await search(store, "findings", {"size": 100, "query": {"match_all": {}}})
    flagged = {h["_source"]["finding"]["group"].get("event_id") for h in answer["hits"]["hits"]}
    return {name: name not in flagged for name in CASES}


async def _control_verdicts(store: Store, inventory) -> dict[str, bool]:
    sources = load_sources()
    control = next(c for c in load_controls(sources=sources) if c.id == "CHK-01")
    period = Period(DAY, DAY + 24 * H)
    result = await gather_evidence([control], sources, inventory, store, period, DAY + 25 * H)
    (outcome,) = result.evidence["CHK-01"].outcomes
    verdicts: dict[str, bool] = {}
    for ok, rows in ((True, outcome.details["matched"]), (False, outcome.details["unmatched"])):
        for row in rows:  # one install per row: each names its own change
            for name, (hour, *_rest) in CASES.items():
                if row["first_seen"] == (DAY + hour * H).isoformat().replace("+00:00", "Z"):
                    verdicts[name] = ok
    return verdicts


async def _report_verdicts(store: Store, inventory) -> dict[str, bool]:
    inputs = ReportInputs(change_repos=repos_by_origin(inventory.params()))
    data = await gather_report(store, custom_period(DAY, DAY + 24 * H), inputs, DAY + 25 * H)
    by_event: dict[str, bool] = {}
    for record in data.change_control.records:
        for name, (hour, *_rest) in CASES.items():
            if record.time == DAY + hour * H:
                by_event[name] = record.classification == "matched"
    return by_event


async def test_rule_control_and_report_agree_install_by_install(dstore: Store) -> None:
    inventory = _inventory()
    await load(dstore, [_install(name) for name in CASES])
    await load(dstore, _changes(), kind="changes")
    expected = {name: case[3] for name, case in CASES.items()}
    rule = await _rule_verdicts(dstore, inventory)
    control = await _control_verdicts(dstore, inventory)
    report = await _report_verdicts(dstore, inventory)
    table = {name: (expected[name], rule.get(name), control.get(name), report.get(name))
             for name in CASES}
    assert rule == expected, table
    assert control == expected, table
    assert report == expected, table
