"""The one reconciliation of an install against approved changes (inventory/reconcile.py)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.inventory.model import Inventory, Server
from monitor.inventory.reconcile import (
    Change,
    Install,
    Policy,
    candidate_queries,
    change_from_source,
    install_from_source,
    match,
    policy_from_params,
)

T = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SHA = "3f2a9c1d" + "0" * 32
POLICY = Policy(repos={"10.0.0.10": ("fw-policy",), "mgmt-b": ("other-policy",)})


def _pr(id_: str, at: datetime, repo: str = "fw-policy", approved: bool = True,
        tickets: tuple[str, ...] = ("CHG0887797",), sha: str = SHA) -> Change:
    return Change(id=id_, time=at, kind="pull_request", repo=repo, shas=(sha,), tickets=tickets,
                  independent_approval=approved, checks_passed=True)


def _install(shas: tuple[str, ...] = ("3f2a9c1",), tickets: tuple[str, ...] = (),
             identity: str | None = None) -> Install:
    return Install(id="i", time=T, origin="10.0.0.10", shas=shas, tickets=tickets,
                   identity=identity)


def test_an_approved_change_merged_before_the_install_matches() -> None:
    verdict = match(_install(), [_pr("c1", T - timedelta(hours=1))], POLICY)
    assert verdict.matched == ("c1",) and verdict.tier == "sha" and verdict.ok


def test_a_change_merged_after_the_install_does_not() -> None:
    verdict = match(_install(), [_pr("c1", T + timedelta(minutes=5))], POLICY)
    assert not verdict.ok and "after the install" in verdict.reason
    # within the clock tolerance it still counts
    assert match(_install(), [_pr("c1", T + timedelta(seconds=30))], POLICY).ok


def test_a_change_older_than_the_limit_does_not() -> None:
    verdict = match(_install(), [_pr("c1", T - timedelta(days=31))], POLICY)
    assert not verdict.ok and "older" in verdict.reason


def test_a_change_in_a_repository_not_mapped_to_the_server_does_not() -> None:
    verdict = match(_install(), [_pr("c1", T - timedelta(hours=1), repo="other-policy")], POLICY)
    assert not verdict.ok and "other-policy" in verdict.reason
    # no mapping at all binds nothing
    assert match(_install(), [_pr("c1", T - timedelta(hours=1), repo="other-policy")],
                 Policy()).ok


def test_an_unapproved_change_does_not() -> None:
    verdict = match(_install(), [_pr("c1", T - timedelta(hours=1), approved=False)], POLICY)
    assert not verdict.ok and "not an approved" in verdict.reason


def test_a_ticket_matches_only_when_an_approved_change_carries_it() -> None:
    install = _install(shas=(), tickets=("CHG0887797",))
    assert not match(install, [], POLICY).ok
    verdict = match(install, [_pr("c1", T - timedelta(hours=1), sha="a" * 40)], POLICY)
    assert verdict.matched == ("c1",) and verdict.tier == "ticket"


def test_identity_fallback_only_before_the_install_within_the_window() -> None:
    deploy = Change(id="d1", time=T - timedelta(minutes=10), kind="deployment",
                    repo="fw-policy", checks_passed=True, identity="svc-deployer")
    install = _install(shas=(), identity="svc-deployer")
    assert match(install, [deploy], POLICY).tier == "identity"
    late = Change(id="d2", time=T + timedelta(minutes=10), kind="deployment",
                  repo="fw-policy", checks_passed=True, identity="svc-deployer")
    verdict = match(install, [late], POLICY)
    assert not verdict.ok and "svc-deployer" in verdict.reason


def test_documents_and_queries() -> None:
    install = install_from_source("e1", {
        "@timestamp": "2026-03-02T12:00:00Z", "observer": {"name": "10.0.0.10"},
        "user": {"name": "svc"},
        "checkpoint": {"session_name": "git:fw-policy@3f2a9c1", "session_description": "CHG1234"}})
    assert install.shas == ("3f2a9c1",) and install.tickets == ("CHG1234",)
    assert install.origin == "10.0.0.10" and install.identity == "svc"
    change = change_from_source("c1", {"@timestamp": "2026-03-02T11:00:00Z", "change": {
        "kind": "pull_request", "repo": "fw-policy", "sha": SHA.upper(),
        "independent_approval": True, "checks_passed": True, "tickets": ["CHG1234"]}})
    assert change.shas == (SHA,) and match(install, [change], POLICY).tier == "sha"
    (body,) = candidate_queries([install], POLICY, [{"term": {"x": 1}}])
    assert body["query"]["bool"]["filter"] == [{"term": {"x": 1}}]
    assert len(body["query"]["bool"]["should"]) == 2
    assert candidate_queries([], POLICY) == []


def test_the_inventory_binding_per_server() -> None:
    inventory = Inventory(management_servers=[
        Server(name="mgmt-a", ip="10.0.0.10", repos=["fw-policy"]), Server(name="log-only")])
    policy = policy_from_params(inventory.params())
    assert policy.repos == {"mgmt-a": ("fw-policy",), "10.0.0.10": ("fw-policy",)}
    assert policy_from_params(Inventory().params()).repos == {}
