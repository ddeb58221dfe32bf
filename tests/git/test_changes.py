"""Pure normalizers: trailers, tickets, approvals, checks, protection (no I/O)."""
from __future__ import annotations

from monitor.compliance.change_review import (
    approval_verdict,
    checks_verdict,
    gitlab_approval_rules,
    judge_document,
)
from monitor.normalize.changes import (
    RepoInfo,
    commit_document,
    find_tickets,
    github_pull_request_document,
    head_push,
    latest_approvals,
    parse_trailers,
    protection_summary,
)
from monitor.sources.git import GitCommit, Signature


def test_trailers_last_paragraph_only_and_folded():
    body = ("Explain: not a trailer block\nbecause this line is prose\n\n"
            "Change-Id: I1\nReviewed-by: Bob <b@x>\n  continued\nRefs: CHG0000001\n")
    assert parse_trailers(body) == [("Change-Id", "I1"), ("Reviewed-by", "Bob <b@x> continued"),
                                    ("Refs", "CHG0000001")]
    assert parse_trailers("Prose line\nKey: value\n") == []  # mixed paragraph: no trailers
    assert parse_trailers("text\n \t\nAcked-by: x\n") == [("Acked-by", "x")]  # blank-ish line
    assert parse_trailers("") == [] and parse_trailers("no colon here") == []
    many = "\n".join(f"K{i}: v" for i in range(500))
    assert len(parse_trailers(many)) == 50


def test_tickets_pattern_order_and_limits():
    assert find_tickets(["fix NET-12 and CHG0001234; NET-12 again", "INC00042 RFC123"]) == \
        ["NET-12", "CHG0001234", "INC00042"]
    assert find_tickets(["x" * 100_000 + " NET-1"]) == []  # beyond the scanned length
    assert len(find_tickets([" ".join(f"AB-{i}" for i in range(200))])) == 50
    assert find_tickets(["ticket #42"], r"#\d+") == ["#42"]


def test_approval_excludes_author_committers_last_pusher_and_bots():
    v = approval_verdict(["Alice", "bob", "carol", "renovate[bot]", ""], "alice",
                         ["carol"], last_pusher="dave")
    assert v.approvers == ["Alice", "bob", "carol", "renovate[bot]"]
    assert v.independent == ["bob"] and v.independent_approval
    assert not approval_verdict(["dave"], "alice", [], last_pusher="dave").independent_approval
    assert not approval_verdict([], "alice").independent_approval


def _act(login: str | None, after: str, when: str, kind: str = "push") -> dict:
    return {"id": 1, "before": "0" * 40, "after": after, "ref": "refs/heads/f",
            "timestamp": when, "activity_type": kind,
            "actor": {"login": login} if login else None}


def test_head_push_is_the_latest_push_of_the_head_sha_before_the_merge():
    head = "a" * 40
    page = [_act("eve", head, "2026-11-25T00:00:00Z", "branch_creation"),  # after the merge
            _act("carol", head, "2026-11-23T00:00:00Z", "pr_merge"),  # not a push
            _act("dave", head, "2026-11-22T00:00:00Z", "force_push"),
            _act("alice", head, "2026-11-21T00:00:00Z"),
            _act("bob", "b" * 40, "2026-11-23T12:00:00Z")]
    found = head_push(page, head, "2026-11-24T00:00:00Z")
    assert found is not None and found.actor == "dave" and found.fallback is None
    assert found.activity_type == "force_push" and found.timestamp == "2026-11-22T00:00:00Z"
    assert head_push(page[4:], head, "2026-11-24T00:00:00Z") is None
    ghost = head_push([_act(None, head, "2026-11-22T00:00:00Z")], head)
    assert ghost is not None and ghost.fallback == "push_without_actor"


def test_pull_request_without_a_push_lookup_marks_the_approximation():
    head = "a" * 40
    pr = {"number": 1, "user": {"login": "alice"}, "merged_at": "2026-11-24T00:00:00Z",
          "head": {"sha": head, "ref": "f"}, "base": {"ref": "main"}}
    commits = [{"sha": head, "author": {"login": "alice"}, "committer": {"login": "alice"}}]
    reviews = [{"user": {"login": "dave"}, "state": "APPROVED", "commit_id": head}]
    doc = judge_document(github_pull_request_document("gh", "o/r", pr, reviews,
                                                      commits)).source["change"]
    assert doc["pull_request"]["last_pusher"] == "alice"
    assert doc["pull_request"]["last_pusher_source"] == "head_committer"
    assert doc["pull_request"]["last_pusher_fallback"] == "not_looked_up"
    assert doc["independent_approval"] is True  # what the approximation alone concluded
    pushed = head_push([_act("dave", head, "2026-11-23T00:00:00Z", "force_push")], head)
    doc = judge_document(github_pull_request_document("gh", "o/r", pr, reviews, commits,
                                                      push=pushed)).source["change"]
    assert doc["pull_request"]["last_pusher"] == "dave"
    assert doc["independent_approval"] is False and doc["independent_approvers"] == []


def test_gitlab_rules_nothing_required_is_not_satisfied_and_unavailable_is_explicit():
    bob = {"id": 2, "username": "bob", "name": "Bob"}
    optional = {"rules": [{"id": 1, "name": "Optional", "rule_type": "any_approver",
                           "approvals_required": 0, "approved_by": [bob], "approved": True}]}
    out = gitlab_approval_rules(optional, "alice", set())
    assert out["status"] == "no_required_rules" and "satisfied" not in out
    assert gitlab_approval_rules({"rules": []}, "alice", set())["required_rules"] == 0
    # an approver whose display name is a commit author's name is not independent
    named = {"rules": [{"id": 2, "name": "Owners", "approvals_required": 1,
                        "approved_by": [bob], "approved": True}]}
    assert gitlab_approval_rules(named, "alice", {"Bob"})["status"] == "unmet"
    assert gitlab_approval_rules(None, "alice", set(), "http_404") == {
        "status": "unavailable", "available": False, "reason": "http_404"}


def test_latest_review_wins():
    reviews = [
        {"user": {"login": "bob"}, "state": "APPROVED", "submitted_at": "2026-11-01T00:00:00Z"},
        {"user": {"login": "bob"}, "state": "DISMISSED", "submitted_at": "2026-11-02T00:00:00Z"},
        {"user": {"login": "eve"}, "state": "CHANGES_REQUESTED", "submitted_at": "2026-11-01T00:00:00Z"},
        {"user": {"login": "eve"}, "state": "COMMENTED", "submitted_at": "2026-11-03T00:00:00Z"},
        {"user": {"login": "ann"}, "state": "APPROVED", "submitted_at": "2026-11-04T00:00:00Z"},
        {"user": None, "state": "APPROVED"},
    ]
    assert sorted(latest_approvals(reviews)) == ["ann"]


def test_checks_required_missing_and_no_data():
    runs = [{"name": "ci/test", "conclusion": "success"}, {"name": "lint", "conclusion": "failure"}]
    assert checks_verdict("s", runs, ["ci/test"]).passed is True
    v = checks_verdict("s", runs, ["ci/test", "security"])
    assert v.passed is False and v.missing == ["security"]
    assert checks_verdict("s", runs).passed is False
    assert checks_verdict("s", []).passed is None  # missing data is never a pass
    assert checks_verdict("s", [{"status": "success", "id": 5}]).passed is True


def test_protection_summary_classic_and_rules():
    classic = {"protection": {"required_pull_request_reviews": {
        "required_approving_review_count": 2, "dismiss_stale_reviews": True},
        "enforce_admins": {"enabled": True}, "allow_force_pushes": {"enabled": True},
        "allow_deletions": {"enabled": False}, "required_status_checks": {"contexts": ["ci"]}},
        "rules": []}
    s = protection_summary(classic)
    assert s["required_approvals"] == 2 and s["enforce_admins"] and s["required_checks"]
    assert s["force_push_blocked"] is False and s["deletion_blocked"] is True
    empty = protection_summary({"rules": [], "protection": None})
    assert not empty["pull_request_required"] and not empty["force_push_blocked"]


def test_commit_document_shape_and_signature_mismatch():
    commit = GitCommit("a" * 40, ("b" * 40,), "Dan", "dan@x", "2026-11-01T10:00:00+01:00",
                       "Dan", "Dan@X", "2026-11-01T11:00:00+01:00", "Fix NET-1", "",
                       tuple(("M", f"p{i}") for i in range(2500)))
    doc = commit_document(RepoInfo("r"), "refs/heads/main", commit,
                          Signature("G", "carol@x", "k", "SHA256:f"), mainline=True)
    c = doc.source["change"]
    assert doc.id == f"git:r:commit:{'a' * 40}" and c["kind"] == "commit"
    assert c["signature"]["matches_committer"] is False
    assert c["paths_count"] == 2500 and len(c["paths"]) == 2000 and c["paths_truncated"]
    assert doc.source["related"] == {"user": ["Dan@X", "dan@x"],
                                     "hash": ["a" * 40]}
    gpg = Signature("G", "Dan <dan@x>", "K", "F")
    assert gpg.matches("DAN@x") is True and Signature("N").matches("dan@x") is None
