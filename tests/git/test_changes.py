"""Pure normalizers: trailers, tickets, approvals, checks, protection (no I/O)."""
from __future__ import annotations

from monitor.normalize.changes import (
    RepoInfo,
    approval_verdict,
    checks_verdict,
    commit_document,
    find_tickets,
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
