"""GitLab's changes as documents: deployments with their approvals, and merged merge requests
with their approvals and approval rules judged independent (``verdicts``). GitLab commits
carry names and e-mails, not usernames, so both are matched against approvers.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...model import Document
from .common import _MAX_BODY, _MAX_SUBJECT, _base, _gl_user, _related, change_id, find_tickets
from .verdicts import (
    ChecksVerdict,
    _checks_fields,
    _gitlab_independent,
    approval_verdict,
    gitlab_approval_rules,
)


def gitlab_deployment_document(source: str, project: str, dep: dict[str, Any],
                               checks: ChecksVerdict | None = None) -> Document:
    doc_id = change_id("gitlab", source, project, "deployment", str(dep.get("id")))
    user = _gl_user(dep.get("user"))
    env = str((dep.get("environment") or {}).get("name") or "")[:256]
    status = str(dep.get("status") or "")
    deployable = dep.get("deployable") or {}
    approvals = [a for a in dep.get("approvals") or [] if isinstance(a, dict)]
    approvers = [_gl_user(a.get("user")) for a in approvals if a.get("status") == "approved"]
    verdict = approval_verdict([a for a in approvers if a], user)
    timestamp = deployable.get("finished_at") or dep.get("updated_at") or dep.get("created_at")
    out = _base("deployment", timestamp, "gitlab.deployment", "gitlab", source,
                f"deployment {dep.get('id')} of {str(dep.get('sha'))[:12]} to {env}: {status}")
    out["event"]["outcome"] = {"success": "success", "failed": "failure",
                               "canceled": "failure"}.get(status, "unknown")
    out["user"] = {"name": user} if user else {}
    out["change"] = {
        "kind": "deployment", "id": doc_id, "repo": project, "forge": "gitlab",
        "environment": env, "sha": dep.get("sha"), "ref": str(dep.get("ref") or "")[:1024],
        "approvers": verdict.approvers, "independent_approvers": verdict.independent,
        "independent_approval": verdict.independent_approval,
        "deployment": {"id": str(dep.get("id")), "iid": dep.get("iid"), "status": status,
                       "creator": user, "ref": str(dep.get("ref") or "")[:1024],
                       "created_at": dep.get("created_at"), "updated_at": dep.get("updated_at"),
                       "pipeline_status": (deployable.get("pipeline") or {}).get("status"),
                       "pending_approval_count": dep.get("pending_approval_count")},
        **_checks_fields(checks),
    }
    out["related"] = _related(user, *verdict.approvers, hashes=[str(dep.get("sha") or "")])
    return Document("changes", doc_id, out)


def gitlab_merge_request_document(source: str, project: str, mr: dict[str, Any],
                                  approvals: dict[str, Any], commits: Sequence[dict[str, Any]],
                                  checks: ChecksVerdict | None = None,
                                  approval_state: dict[str, Any] | None = None,
                                  rules_unavailable: str | None = None) -> Document:
    """A merged MR: its approvals (``merge_requests/:iid/approvals``) judged independent as
    on GitHub (GitLab REST has no push actor, so there is no last-pusher exclusion), and its
    approval rules (``approval_state``, or ``rules_unavailable``: why not) under
    ``change.approval_rules`` (``gitlab_approval_rules``)."""
    iid = mr.get("iid")
    doc_id = change_id("gitlab", source, project, "merge_request", str(iid))
    author = _gl_user(mr.get("author"))
    # GitLab commits carry names and e-mails, not usernames: match both
    commit_people = {str(c.get(k)) for c in commits for k in ("author_name", "committer_name",
                                                               "author_email", "committer_email")
                     if c.get(k)}
    approved_users = [a.get("user") for a in approvals.get("approved_by") or []
                      if isinstance(a, dict) and isinstance(a.get("user"), dict)]
    approvers, independent = _gitlab_independent(approved_users, author, commit_people)
    rules = gitlab_approval_rules(approval_state, author, commit_people, rules_unavailable)
    merge_sha = mr.get("merge_commit_sha") or mr.get("squash_commit_sha") or mr.get("sha")
    merged_by = _gl_user(mr.get("merge_user") or mr.get("merged_by"))
    out = _base("pull_request", mr.get("merged_at") or mr.get("updated_at"),
                "gitlab.merge_request", "gitlab", source,
                f"MR !{iid} merged: {str(mr.get('title') or '')[:500]}", action="mr-merged")
    out["user"] = {"name": author} if author else {}
    out["change"] = {
        "kind": "pull_request", "id": doc_id, "repo": project, "forge": "gitlab",
        "branch": str(mr.get("target_branch") or "")[:1024], "sha": merge_sha,
        "author": {"login": author},
        "approvers": approvers, "independent_approvers": independent,
        "independent_approval": bool(independent), "approval_rules": rules,
        "tickets": find_tickets([str(mr.get("title") or ""), str(mr.get("description") or "")]),
        "pull_request": {"number": iid, "url": mr.get("web_url"),
                         "title": str(mr.get("title") or "")[:_MAX_SUBJECT], "author": author,
                         "merged_by": merged_by, "merged_at": mr.get("merged_at"),
                         "head_sha": mr.get("sha"), "merge_sha": merge_sha,
                         "base": mr.get("target_branch"),
                         "commit_authors": sorted(commit_people)[:200],
                         "approvals_required": approvals.get("approvals_required"),
                         "body": str(mr.get("description") or "")[:_MAX_BODY]},
        **_checks_fields(checks),
    }
    out["related"] = _related(author, merged_by, *approvers,
                              *(a for r in rules.get("rules", ()) for a in r["approved_by"]),
                              hashes=[str(merge_sha or "")])
    return Document("changes", doc_id, out)
