"""The normalizer records facts, the compliance side judges them (``change_review``).

The stored document must carry every fact its verdict rests on: judging a normalized
document gives the verdict, and judging it again (as an auditor re-checking the stored
evidence would) gives the same one.
"""
from __future__ import annotations

from monitor.compliance.change_review import judge_change, judge_document
from monitor.ingest import ingest_once
from monitor.model import Document
from monitor.normalize.changes import (
    RepoInfo,
    check_runs,
    commit_document,
    github_deployment_document,
    github_pull_request_document,
    gitlab_merge_request_document,
)
from monitor.sources.base import Batch
from monitor.sources.git import GitCommit, Signature
from monitor.store import BulkWriter

HEAD = "a" * 40
VERDICT_FIELDS = {"independent_approval", "independent_approvers", "checks_passed",
                  "checks_missing"}


def _pr(reviews: list[dict], committer: str = "alice") -> Document:
    pr = {"number": 7, "user": {"login": "alice"}, "merged_at": "2026-11-24T10:00:00Z",
          "merge_commit_sha": "b" * 40, "head": {"sha": HEAD, "ref": "f"},
          "base": {"ref": "main"}}
    commits = [{"sha": HEAD, "author": {"login": "alice"}, "committer": {"login": committer}}]
    return github_pull_request_document("gh", "o/r", pr, reviews, commits,
                                        check_runs(HEAD, [{"name": "ci", "conclusion": "failure"}],
                                                   ["ci", "sast"]))


def test_the_normalizer_records_facts_and_no_verdict():
    change = _pr([{"user": {"login": "bob"}, "state": "APPROVED", "commit_id": HEAD}]
                 ).source["change"]
    assert not VERDICT_FIELDS & set(change)
    assert change["approvers"] == ["bob"] and change["checks_required"] == ["ci", "sast"]
    assert change["pull_request"]["commit_authors"] == ["alice"]


def test_judgement_from_stored_facts_and_again_from_the_judged_document():
    doc = judge_document(_pr([{"user": {"login": "bob"}, "state": "APPROVED"},
                              {"user": {"login": "carol"}, "state": "APPROVED"}],
                             committer="carol"))
    change = doc.source["change"]
    # carol committed a commit of the change: her approval is not independent
    assert change["independent_approvers"] == ["bob"] and change["independent_approval"] is True
    assert change["checks_passed"] is False and change["checks_missing"] == ["sast"]
    assert judge_document(doc) == doc  # the stored facts give the same verdict again


def test_self_approval_alone_is_not_independent():
    change = judge_document(_pr([{"user": {"login": "alice"}, "state": "APPROVED"}])
                            ).source["change"]
    assert change["independent_approval"] is False and change["independent_approvers"] == []


def test_github_deployment_approved_by_the_run_trigger_is_not_independent():
    dep = {"id": 3, "creator": {"login": "bot"}, "environment": "production", "sha": HEAD,
           "created_at": "2026-11-24T10:30:00Z"}
    run = {"id": 9, "actor": {"login": "dave"}, "triggering_actor": {"login": "erin"}}
    own = [{"state": "approved", "user": {"login": "erin"}}]
    doc = judge_document(github_deployment_document("gh", "o/r", dep, None, run, own))
    assert doc.source["change"]["independent_approval"] is False
    other = [{"state": "approved", "user": {"login": "frank"}}]
    doc = judge_document(github_deployment_document("gh", "o/r", dep, None, run, other))
    assert doc.source["change"]["independent_approvers"] == ["frank"]


def test_gitlab_approver_named_like_a_committer_and_rules_judged():
    mr = {"iid": 4, "author": {"username": "alice"}, "merged_at": "2026-11-24T10:00:00Z",
          "sha": HEAD, "target_branch": "main"}
    bob = {"id": 2, "username": "bob", "name": "Bob Builder"}
    approvals = {"approved_by": [{"user": bob}]}
    commits = [{"author_name": "Bob Builder", "author_email": "b@x"}]
    state = {"rules": [{"id": 1, "name": "Owners", "approvals_required": 1,
                        "approved_by": [bob], "approved": True}]}
    raw = gitlab_merge_request_document("gl", "g/p", mr, approvals, commits, None, state)
    assert "satisfied" not in raw.source["change"]["approval_rules"]["rules"][0]
    change = judge_document(raw).source["change"]
    assert change["approvers"] == ["bob"] and change["independent_approval"] is False
    assert change["approval_rules"]["status"] == "unmet"
    assert change["approval_rules"]["rules"][0]["approved"] is True  # GitLab's own word, kept
    honest = gitlab_merge_request_document("gl", "g/p", mr, approvals,
                                           [{"author_name": "Alice"}], None, state)
    change = judge_document(honest).source["change"]
    assert change["independent_approval"] is True
    assert change["approval_rules"]["status"] == "satisfied"


def test_a_cut_short_people_list_is_never_independent():
    change = {"kind": "pull_request", "forge": "gitlab", "approvers": ["bob"],
              "author": {"login": "alice"},
              "pull_request": {"commit_authors": ["x"], "commit_authors_truncated": True}}
    assert judge_change(change)["independent_approval"] is False


def test_checks_without_runs_are_no_pass_and_other_documents_pass_through():
    assert "checks_passed" not in judge_change({"checks_sha": HEAD, "checks": []})
    commit = commit_document(RepoInfo("r"), "refs/heads/main",
                             GitCommit(HEAD, (), "A", "a@x", "2026-11-24T10:00:00Z", "A", "a@x",
                                       "2026-11-24T10:00:00Z", "s", "", ()),
                             Signature("N", ""), mainline=True)
    assert judge_document(commit) is commit
    other = Document("events", "1", {"change": {"approvers": ["x"]}})
    assert judge_document(other) is other


class _OneBatch:
    """One GitHub pull request, approved by someone other than its author."""

    name = "judge-test"

    async def fetch(self, cursor):
        return Batch([_pr([{"user": {"login": "bob"}, "state": "APPROVED"}])])

    def normalize(self, record):
        yield record

    async def close(self):
        return None


async def test_the_pipeline_judges_between_normalize_and_write(store):
    """What reaches Elasticsearch through the pipeline carries the verdict the rules query."""
    await ingest_once(_OneBatch(), BulkWriter(store), judge=judge_document)
    await store.es.indices.refresh(index=store.names.changes)
    hits = (await store.es.search(index=store.names.changes,
                                  query={"term": {"change.independent_approval": True}}))
    assert [h["_source"]["change"]["independent_approvers"] for h in hits["hits"]["hits"]] \
        == [["bob"]]
