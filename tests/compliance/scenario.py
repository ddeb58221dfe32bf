"""A simulated day for the compliance scenario tests: Check Point simulator lines through the
real normalizer, plus Git/forge change documents built by the real change normalizers.

``clean_day()`` is a day on which every automated control should pass (or be not applicable);
``with_incidents()`` adds an out-of-band rule change, telnet accepted into the CDE, a brute
force on the generic ``admin`` account ending in a success, a direct push to main, and a
rulebase snapshot in which logging is off.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.compliance.change_review import judge_document
from monitor.model import Document, RawRecord
from monitor.normalize.changes import (
    RepoInfo,
    branch_protection_document,
    check_runs,
    commit_document,
    github_deployment_document,
    github_direct_push_document,
    github_pull_request_document,
)
from monitor.normalize.checkpoint import normalize_checkpoint
from monitor.simulate.checkpoint import (
    BruteForce,
    OutOfBandChange,
    SimConfig,
    format_line,
    generate,
)
from monitor.sources.checkpoint_snapshots import gateway_doc, rule_docs
from monitor.sources.git import GitCommit, Signature

DAY = datetime(2026, 11, 24, tzinfo=UTC)
EVENTS = 2000
SHA = "9f2c4e1a7b3d5f60718293a4b5c6d7e8f9012345"
HEAD = "1234abcd5678ef901234abcd5678ef901234abcd"


def _line(moment: datetime, n: int, items: list[tuple[str, str]], origin: str = "10.0.0.10",
          host: str = "cp-mgmt") -> Document:
    head = [("loguid", f"{{0x{int(moment.timestamp()):08x},0x{n:x},0x0a00000a,0x5ce9a210}}"),
            ("origin", origin), ("time", str(int(moment.timestamp()))), ("ifdir", "outbound")]
    line = format_line(moment, host, 10547, head + items)
    doc = normalize_checkpoint(RawRecord("scenario", line.encode(), moment))
    assert isinstance(doc, Document), doc
    return doc


def _audit(moment: datetime, n: int, admin: str, operation: str, subject: str, product: str,
           extra: list[tuple[str, str]], status: str | None = "Success") -> Document:
    items = [("action", "Accept"), ("administrator", admin), ("client_ip", "10.0.5.50")]
    if status:
        items.append(("audit_status", status))
    items += extra + [("operation", operation), ("product", product), ("subject", subject)]
    return _line(moment, n, items)


def _changes() -> list[Document]:
    repo = "firewall-policy"
    ok_checks = check_runs(HEAD, [{"name": "ci", "conclusion": "success"},
                                      {"name": "verify-policy", "conclusion": "success"}])
    pr = {"number": 42, "user": {"login": "alice"}, "merged_at": "2026-11-24T10:00:00Z",
          "merge_commit_sha": SHA, "head": {"sha": HEAD, "ref": "feature/https-api"},
          "base": {"ref": "main"}, "title": "Allow https to the payment API (CHG100001)",
          "body": "Reason, security impact, tests, back-out: see ticket", "merged_by": {"login": "alice"},
          "html_url": "https://github.example/acme/firewall-policy/pull/42"}
    reviews = [{"user": {"login": "bob"}, "state": "APPROVED", "commit_id": HEAD,
                "submitted_at": "2026-11-24T09:30:00Z"}]
    commits = [{"sha": HEAD, "author": {"login": "alice"}, "committer": {"login": "alice"}}]
    merge = GitCommit(SHA, (HEAD, "0" * 40), "Alice", "alice@example.com", "2026-11-24T10:00:00Z",
                      "Alice", "alice@example.com", "2026-11-24T10:00:00Z",
                      "Merge pull request #42 (CHG100001)", "", (("M", "policy/cde.yaml"),))
    review = GitCommit("7" * 40, ("8" * 40,), "Carol", "carol@example.com", "2026-10-20T12:00:00Z",
                       "Carol", "carol@example.com", "2026-10-20T12:00:00Z",
                       "NSC review 2026-H2 (CHG100002)", "", (("A", "reviews/nsc/2026-10.md"),))
    protection = {"rules": [
        {"type": "pull_request", "parameters": {"required_approving_review_count": 1,
                                                "dismiss_stale_reviews_on_push": True,
                                                "require_last_push_approval": True}},
        {"type": "non_fast_forward"}, {"type": "deletion"}, {"type": "required_status_checks"},
        {"type": "required_signatures"}]}
    info = RepoInfo(repo)
    # judged as the ingest pipeline judges every change on its way to the store
    return [judge_document(doc) for doc in [
        github_pull_request_document("gh", repo, pr, reviews, commits, ok_checks),
        commit_document(info, "refs/heads/main", merge, Signature("G", "alice@example.com"),
                        mainline=True),
        commit_document(info, "refs/heads/main", review, Signature("G", "carol@example.com"),
                        mainline=True),
        github_deployment_document("gh", repo, {
            "id": 7, "creator": {"login": "gitops-bot"}, "environment": "production", "sha": SHA,
            "ref": "main", "created_at": "2026-11-24T10:30:00Z", "production_environment": True},
            check_runs(SHA, [{"name": "ci", "conclusion": "success"}])),
        branch_protection_document("github", "gh", repo, "main", "2026-11-24", protection, None,
                                   "2026-11-24T01:00:00Z"),
    ]]


def _snapshot(untracked: bool = False) -> list[Document]:
    """A management snapshot as the Check Point collector stores it (inventory index); with
    ``untracked`` a later snapshot shows logging turned off on the "CDE to DB" rule."""
    taken = "2026-11-24T20:00:00Z" if untracked else "2026-11-24T02:00:00Z"
    log = {"uid": "t-log", "name": "None" if untracked else "Log"}
    answer = {"objects-dictionary": [log, {"uid": "a-acc", "name": "Accept"},
                                     {"uid": "a-drop", "name": "Drop"}],
              "rulebase": [{"type": "access-section", "name": "CDE", "rulebase": [
                  {"uid": f"r{n}", "name": name, "rule-number": n, "enabled": True,
                   "action": action, "track": {"type": "t-log"}, "source": [], "destination": [],
                   "service": [], "hits": {"value": 10 * n}}
                  for n, (name, action) in enumerate((("Allow web", "a-acc"),
                                                      ("CDE to DB", "a-acc"),
                                                      ("Cleanup rule", "a-drop")), start=1)]}]}
    gateway = {"uid": "gw-cde-1", "name": "gw-cde-1", "type": "simple-gateway",
               "ipv4-address": "10.20.0.1",
               "policy": {"access-policy-installed": True, "access-policy-name": "Standard"}}
    return [gateway_doc("mgmt", taken, gateway), *rule_docs("mgmt", taken, "Network", answer)]


def _sim(scenarios: tuple[Any, ...] = ()) -> list[Document]:
    config = SimConfig(count=EVENTS, seed=11, start=DAY, events_per_second=EVENTS / 86_000,
                       scenarios=scenarios)
    docs = []
    for moment, line in generate(config):
        doc = normalize_checkpoint(RawRecord("sim", line.encode(), moment))
        assert isinstance(doc, Document), doc
        docs.append(doc)
    return docs


def clean_day() -> list[Document]:
    at = DAY + timedelta(hours=10, minutes=40)
    pipeline = [
        _audit(at, 1, "svc-policy-deployer", "Publish", "Revision Control", "WEB_API",
               [("session_description", f"{SHA[:12]} CHG100001"),
                ("session_name", "gitops/firewall-policy")]),
        _audit(at + timedelta(minutes=1), 2, "svc-policy-deployer", "Install Policy",
               "Policy Installation", "WEB_API",
               [("session_description", f"{SHA[:12]} CHG100001"), ("objectname", "gw-cde-1")]),
        _audit(DAY - timedelta(days=1), 3, "System", "IPS Update", "Update", "cpmidu_update_tool",
               [("additional_info", "IPS version 635158746 -> 635158812")], None),
    ]
    return _sim() + pipeline + _changes() + _snapshot()


def with_incidents() -> list[Document]:
    scenarios = (OutOfBandChange(at=3 * 3600.0),
                 BruteForce(at=5 * 3600.0, failures=12, interval=5.0))
    telnet = _line(DAY + timedelta(hours=7), 9, [
        ("action", "Accept"), ("src", "10.1.2.50"), ("dst", "10.20.5.10"), ("proto", "6"),
        ("service", "23"), ("s_port", "40123"), ("product", "VPN-1 & FireWall-1"),
        ("rule_name", "Legacy telnet"), ("rule_uid", "3c7c1a3e-0000-4000-8000-000000000023"),
        ("layer_name", "Network")], origin="10.20.0.1", host="gw-cde-1")
    push = github_direct_push_document("gh", "firewall-policy", "main", {
        "sha": "5" * 40, "commit": {"message": "hotfix rule", "author": {
            "name": "Mallory", "email": "m@example.com", "date": "2026-11-24T15:00:00Z"},
            "committer": {"name": "Mallory", "email": "m@example.com",
                          "date": "2026-11-24T15:00:00Z"}, "verification": {"verified": False,
                                                                             "reason": "unsigned"}},
        "parents": [{"sha": SHA}]})
    at = DAY + timedelta(hours=10, minutes=40)
    pipeline = [
        _audit(at, 1, "svc-policy-deployer", "Publish", "Revision Control", "WEB_API",
               [("session_description", f"{SHA[:12]} CHG100001")]),
        _audit(DAY - timedelta(days=1), 3, "System", "IPS Update", "Update", "cpmidu_update_tool",
               [("additional_info", "IPS version 635158746 -> 635158812")], None),
    ]
    return (_sim(scenarios) + [telnet, push] + pipeline + _changes() + _snapshot()
            + _snapshot(untracked=True))
