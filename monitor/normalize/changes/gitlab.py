"""GitLab's changes as documents: deployments with their approvals, and merged merge requests
with their approvals and approval rules as facts (``facts``; ``monitor.compliance.change_review``
judges them). GitLab commits carry names and e-mails, not usernames, so approvers are recorded
with their display names and commits with names and e-mails.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...model import Document
from .common import _MAX_BODY, _MAX_SUBJECT, _base, _gl_user, _related, change_id, find_tickets
from .facts import MAX_PEOPLE, CheckRuns, _checks_fields, gitlab_rule_facts, people


def gitlab_deployment_document(source: str, project: str, dep: dict[str, Any],
                               checks: CheckRuns | None = None) -> Document:
    doc_id = change_id("gitlab", source, project, "deployment", str(dep.get("id")))
    user = _gl_user(dep.get("user"))
    env = str((dep.get("environment") or {}).get("name") or "")[:256]
    status = str(dep.get("status") or "")
    deployable = dep.get("deployable") or {}
    approvals = [a for a in dep.get("approvals") or [] if isinstance(a, dict)]
    approvers = sorted({u for u in (_gl_user(a.get("user")) for a in approvals
                                    if a.get("status") == "approved") if u})
    timestamp = deployable.get("finished_at") or dep.get("updated_at") or dep.get("created_at")
    out = _base("deployment", timestamp, "gitlab.deployment", "gitlab", source,
                f"deployment {dep.get('id')} of {str(dep.get('sha'))[:12]} to {env}: {status}")
    out["event"]["outcome"] = {"success": "success", "failed": "failure",
                               "canceled": "failure"}.get(status, "unknown")
    out["user"] = {"name": user} if user else {}
    out["change"] = {
        "kind": "deployment", "id": doc_id, "repo": project, "forge": "gitlab",
        "environment": env, "sha": dep.get("sha"), "ref": str(dep.get("ref") or "")[:1024],
        "approvers": approvers,
        "deployment": {"id": str(dep.get("id")), "iid": dep.get("iid"), "status": status,
                       "creator": user, "ref": str(dep.get("ref") or "")[:1024],
                       "created_at": dep.get("created_at"), "updated_at": dep.get("updated_at"),
                       "pipeline_status": (deployable.get("pipeline") or {}).get("status"),
                       "pending_approval_count": dep.get("pending_approval_count")},
        **_checks_fields(checks),
    }
    out["related"] = _related(user, *approvers, hashes=[str(dep.get("sha") or "")])
    return Document("changes", doc_id, out)


def gitlab_merge_request_document(source: str, project: str, mr: dict[str, Any],
                                  approvals: dict[str, Any], commits: Sequence[dict[str, Any]],
                                  checks: CheckRuns | None = None,
                                  approval_state: dict[str, Any] | None = None,
                                  rules_unavailable: str | None = None) -> Document:
    """A merged MR: its approvals (``merge_requests/:iid/approvals``) with display names, to be
    judged as on GitHub (GitLab REST has no push actor, so there is no last pusher), and its
    approval rules (``approval_state``, or ``rules_unavailable``: why not) under
    ``change.approval_rules`` (``gitlab_rule_facts``)."""
    iid = mr.get("iid")
    doc_id = change_id("gitlab", source, project, "merge_request", str(iid))
    author = _gl_user(mr.get("author"))
    # GitLab commits carry names and e-mails, not usernames: match both
    commit_people = {str(c.get(k)) for c in commits for k in ("author_name", "committer_name",
                                                               "author_email", "committer_email")
                     if c.get(k)}
    approved_users = [a.get("user") for a in approvals.get("approved_by") or []
                      if isinstance(a, dict) and isinstance(a.get("user"), dict)]
    approved = people(approved_users)
    rules = gitlab_rule_facts(approval_state, rules_unavailable)
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
        "approvers": [p["login"] for p in approved], "approvals": approved,
        "approval_rules": rules,
        "tickets": find_tickets([str(mr.get("title") or ""), str(mr.get("description") or "")]),
        "pull_request": {"number": iid, "url": mr.get("web_url"),
                         "title": str(mr.get("title") or "")[:_MAX_SUBJECT], "author": author,
                         "merged_by": merged_by, "merged_at": mr.get("merged_at"),
                         "head_sha": mr.get("sha"), "merge_sha": merge_sha,
                         "base": mr.get("target_branch"),
                         "commit_authors": sorted(commit_people)[:MAX_PEOPLE],
                         **({"commit_authors_truncated": True}
                            if len(commit_people) > MAX_PEOPLE else {}),
                         "approvals_required": approvals.get("approvals_required"),
                         "body": str(mr.get("description") or "")[:_MAX_BODY]},
        **_checks_fields(checks),
    }
    out["related"] = _related(author, merged_by, *(p["login"] for p in approved),
                              *(a for r in rules.get("rules", ()) for a in r["approved_by"]),
                              hashes=[str(merge_sha or "")])
    return Document("changes", doc_id, out)
