"""GitHub's changes as documents: deployments (with the environment approvals of the Actions
run that performed them) and their statuses, merged pull requests with the facts their approval
is judged on (``monitor.compliance.change_review`` judges them), reviews, commits pushed to a protected branch without a pull request, and the daily snapshot
of a branch's protection (``protection_summary`` flattens rules and classic protection).
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from ...model import Document
from .common import _MAX_BODY, _MAX_SUBJECT, _base, _login, _related, change_id, find_tickets
from .facts import CheckRuns, PushLookup, _checks_fields, _head_committer, latest_approvals


def github_deployment_document(source: str, repo: str, dep: dict[str, Any],
                               checks: CheckRuns | None = None,
                               run: dict[str, Any] | None = None,
                               approvals: Sequence[dict[str, Any]] = ()) -> Document:
    """A deployment; with the Actions ``run`` that performed it and that run's environment
    ``approvals`` (``actions/runs/{id}/approvals``): who approved, who triggered the run and
    its actor (CHK-10 judges an approval independent of both)."""
    doc_id = change_id("github", source, repo, "deployment", str(dep.get("id")))
    creator = _login(dep.get("creator"))
    extra: dict[str, Any] = {}
    if run is not None or approvals:
        run = run or {}
        triggered = _login(run.get("triggering_actor")) or _login(run.get("actor"))
        approved = [_login(a.get("user")) for a in approvals
                    if isinstance(a, dict) and a.get("state") == "approved"]
        extra = {"approvers": sorted({a for a in approved if a})}
        if run:
            extra["run"] = {"id": str(run.get("id")), "actor": _login(run.get("actor")),
                            "triggering_actor": triggered, "event": run.get("event"),
                            "url": run.get("html_url")}
    env = str(dep.get("environment") or "")[:256]
    out = _base("deployment", dep.get("created_at"), "github.deployment", "github", source,
                f"deployment {dep.get('id')} of {str(dep.get('sha'))[:12]} to {env}",
                type_="creation")
    out["user"] = {"name": creator} if creator else {}
    out["change"] = {
        "kind": "deployment", "id": doc_id, "repo": repo, "forge": "github", "environment": env,
        "sha": dep.get("sha"), "ref": str(dep.get("ref") or "")[:1024],
        "deployment": {"id": str(dep.get("id")), "creator": creator,
                       "ref": str(dep.get("ref") or "")[:1024], "task": dep.get("task"),
                       "production": dep.get("production_environment"),
                       "created_at": dep.get("created_at"), "updated_at": dep.get("updated_at"),
                       "description": str(dep.get("description") or "")[:2000]},
        **_checks_fields(checks), **extra,
    }
    out["related"] = _related(creator, *extra.get("approvers", ()),
                              hashes=[str(dep.get("sha") or "")])
    return Document("changes", doc_id, out)


def github_deployment_status_document(source: str, repo: str, dep: dict[str, Any],
                                      status: dict[str, Any]) -> Document:
    doc_id = change_id("github", source, repo, "deployment_status", str(status.get("id")))
    creator = _login(status.get("creator"))
    state = str(status.get("state") or "")
    env = str(status.get("environment") or dep.get("environment") or "")[:256]
    out = _base("deployment_status", status.get("created_at"), "github.deployment_status",
                "github", source, f"deployment {dep.get('id')} to {env}: {state}")
    out["event"]["outcome"] = {"success": "success", "failure": "failure",
                               "error": "failure"}.get(state, "unknown")
    out["change"] = {
        "kind": "deployment_status", "id": doc_id, "repo": repo, "forge": "github",
        "environment": env, "sha": dep.get("sha"),
        "deployment": {"id": str(dep.get("id")), "status": state, "creator": creator,
                       "ref": str(dep.get("ref") or "")[:1024],
                       "environment_url": status.get("environment_url"),
                       "log_url": status.get("log_url"),
                       "description": str(status.get("description") or "")[:2000]},
    }
    out["related"] = _related(creator, hashes=[str(dep.get("sha") or "")])
    return Document("changes", doc_id, out)


def github_pull_request_document(source: str, repo: str, pr: dict[str, Any],
                                 reviews: Sequence[dict[str, Any]],
                                 commits: Sequence[dict[str, Any]],
                                 checks: CheckRuns | None = None,
                                 push: PushLookup | None = None) -> Document:
    """A merged pull request with the facts its approval is judged on: the latest approvals,
    the author, the commit authors and committers, the last pusher. The last pusher is ``push.actor``
    (the Repository Activity API); without one it is approximated by the head commit's
    committer, and ``pull_request.last_pusher_source``/``last_pusher_fallback`` say so."""
    number = pr.get("number")
    doc_id = change_id("github", source, repo, "pull_request", str(number))
    author = _login(pr.get("user"))
    commit_people: set[str] = set()
    for commit in commits:
        for role in ("author", "committer"):
            login = _login(commit.get(role))
            if login and login.casefold() != "web-flow":
                commit_people.add(login)
    head_sha = (pr.get("head") or {}).get("sha")
    push = push or PushLookup(fallback="not_looked_up")
    pusher_fields: dict[str, Any]
    if push.actor and push.fallback is None:
        last_pusher: str | None = push.actor
        pusher_fields = {"last_pusher_source": "activity",
                         "last_push": {"type": push.activity_type, "at": push.timestamp,
                                       "before": push.before}}
    else:
        last_pusher = _head_committer(commits, head_sha)
        pusher_fields = {"last_pusher_source": "head_committer",
                         "last_pusher_fallback": push.fallback or "unknown"}
    approvals = latest_approvals(reviews)
    approvers = sorted(approvals)
    merged_by = _login(pr.get("merged_by"))
    text = [str(pr.get("title") or ""), str(pr.get("body") or ""),
            str((pr.get("head") or {}).get("ref") or "")]
    out = _base("pull_request", pr.get("merged_at") or pr.get("closed_at") or pr.get("updated_at"),
                "github.pull_request", "github", source,
                f"PR #{number} merged: {str(pr.get('title') or '')[:500]}", action="pr-merged")
    out["user"] = {"name": author} if author else {}
    out["change"] = {
        "kind": "pull_request", "id": doc_id, "repo": repo, "forge": "github",
        "branch": str((pr.get("base") or {}).get("ref") or "")[:1024],
        "sha": pr.get("merge_commit_sha"), "author": {"login": author},
        "approvers": approvers,
        "approved_head": any(r.get("commit_id") == head_sha for r in approvals.values()),
        "tickets": find_tickets(text),
        "pull_request": {"number": number, "url": pr.get("html_url"),
                         "title": str(pr.get("title") or "")[:_MAX_SUBJECT], "author": author,
                         "merged_by": merged_by, "merged_at": pr.get("merged_at"),
                         "head_sha": head_sha, "merge_sha": pr.get("merge_commit_sha"),
                         "head_ref": str((pr.get("head") or {}).get("ref") or "")[:1024],
                         "base": (pr.get("base") or {}).get("ref"),
                         "commit_authors": sorted(commit_people), "last_pusher": last_pusher,
                         **pusher_fields,
                         "body": str(pr.get("body") or "")[:_MAX_BODY]},
        **_checks_fields(checks),
    }
    out["related"] = _related(author, merged_by, last_pusher, *approvers,
                              hashes=[str(pr.get("merge_commit_sha") or ""), str(head_sha or "")])
    return Document("changes", doc_id, out)


def github_review_document(source: str, repo: str, pr: dict[str, Any],
                           review: dict[str, Any]) -> Document:
    doc_id = change_id("github", source, repo, "review", str(review.get("id")))
    reviewer = _login(review.get("user"))
    author = _login(pr.get("user"))
    state = str(review.get("state") or "")
    out = _base("review", review.get("submitted_at"), "github.review", "github", source,
                f"PR #{pr.get('number')} review by {reviewer}: {state}")
    out["user"] = {"name": reviewer} if reviewer else {}
    out["change"] = {
        "kind": "review", "id": doc_id, "repo": repo, "forge": "github",
        "sha": review.get("commit_id"),
        "review": {"id": str(review.get("id")), "state": state, "reviewer": reviewer,
                   "commit_id": review.get("commit_id"), "submitted_at": review.get("submitted_at"),
                   "self_review": bool(reviewer and author and reviewer.casefold() == author.casefold()),
                   "association": review.get("author_association")},
        "pull_request": {"number": pr.get("number"), "author": author, "url": pr.get("html_url")},
    }
    out["related"] = _related(reviewer, author)
    return Document("changes", doc_id, out)


def github_direct_push_document(source: str, repo: str, branch: str,
                                commit: dict[str, Any]) -> Document:
    """A commit on a protected branch with no associated pull request (CHK-07)."""
    sha = str(commit.get("sha") or "")
    detail = commit.get("commit") or {}
    author, committer = detail.get("author") or {}, detail.get("committer") or {}
    verification = detail.get("verification") or {}
    doc_id = change_id("github", source, repo, "direct_push", sha)
    message = str(detail.get("message") or "")
    out = _base("direct_push", committer.get("date") or author.get("date"), "github.direct_push",
                "github", source, f"commit {sha[:12]} on {branch[:200]} has no pull request")
    out["change"] = {
        "kind": "direct_push", "id": doc_id, "repo": repo, "forge": "github",
        "branch": branch, "sha": sha, "subject": message.split("\n", 1)[0][:_MAX_SUBJECT],
        "parents": [p.get("sha") for p in commit.get("parents") or [] if isinstance(p, dict)],
        "author": {"name": author.get("name"), "email": author.get("email"),
                   "login": _login(commit.get("author")), "time": author.get("date")},
        "committer": {"name": committer.get("name"), "email": committer.get("email"),
                      "login": _login(commit.get("committer")), "time": committer.get("date")},
        "signature": {"status": "G" if verification.get("verified") else
                      ("N" if verification.get("reason") == "unsigned" else "B"),
                      "verified": bool(verification.get("verified")),
                      "reason": verification.get("reason")},
        "tickets": find_tickets([message]),
    }
    out["related"] = _related(author.get("email"), committer.get("email"), hashes=[sha])
    return Document("changes", doc_id, out)


def branch_protection_document(forge: str, source: str, repo: str, branch: str, day: str,
                               snapshot: dict[str, Any], previous_hash: str | None,
                               timestamp: str) -> Document:
    """Daily snapshot of branch rules/protection (CHK-06); ``changed`` vs the previous one."""
    import orjson

    digest = hashlib.sha256(orjson.dumps(snapshot, option=orjson.OPT_SORT_KEYS)).hexdigest()
    doc_id = change_id(forge, source, repo, "branch_protection", branch, day)
    summary = protection_summary(snapshot)
    out = _base("branch_protection", timestamp, f"{forge}.branch_protection", forge, source,
                f"branch protection of {repo}:{branch[:200]} on {day}", type_="info")
    out["change"] = {
        "kind": "branch_protection", "id": doc_id, "repo": repo, "forge": forge,
        "branch": branch,
        "protection": {"day": day, "hash": digest, "previous_hash": previous_hash,
                       "changed": previous_hash is not None and previous_hash != digest,
                       "snapshot": snapshot, **summary},
    }
    return Document("changes", doc_id, out)


def protection_summary(snapshot: dict[str, Any]) -> dict[str, Any]:
    """Flatten GitHub rules (``rules/branches``) and classic protection into booleans."""
    out: dict[str, Any] = {}
    found = snapshot.get("rules")
    rules: list[Any] = found if isinstance(found, list) else []
    types = {r.get("type") for r in rules if isinstance(r, dict)}
    approvals = 0
    for rule in rules:
        if isinstance(rule, dict) and rule.get("type") == "pull_request":
            params = rule.get("parameters") or {}
            approvals = max(approvals, int(params.get("required_approving_review_count") or 0))
            out["dismiss_stale_reviews"] = bool(params.get("dismiss_stale_reviews_on_push"))
            out["require_last_push_approval"] = bool(params.get("require_last_push_approval"))
    found = snapshot.get("protection")
    classic: dict[str, Any] = found if isinstance(found, dict) else {}
    reviews = classic.get("required_pull_request_reviews") or {}
    if reviews:
        approvals = max(approvals, int(reviews.get("required_approving_review_count") or 0))
        out["dismiss_stale_reviews"] = out.get("dismiss_stale_reviews") or \
            bool(reviews.get("dismiss_stale_reviews"))
        out["require_last_push_approval"] = out.get("require_last_push_approval") or \
            bool(reviews.get("require_last_push_approval"))
    out["pull_request_required"] = "pull_request" in types or bool(reviews)
    out["required_approvals"] = approvals
    out["required_checks"] = "required_status_checks" in types or \
        bool(classic.get("required_status_checks"))
    out["force_push_blocked"] = "non_fast_forward" in types or (
        bool(classic) and not (classic.get("allow_force_pushes") or {}).get("enabled", False))
    out["deletion_blocked"] = "deletion" in types or (
        bool(classic) and not (classic.get("allow_deletions") or {}).get("enabled", False))
    out["signatures_required"] = "required_signatures" in types or bool(
        (classic.get("required_signatures") or {}).get("enabled"))
    out["enforce_admins"] = bool((classic.get("enforce_admins") or {}).get("enabled"))
    return out
