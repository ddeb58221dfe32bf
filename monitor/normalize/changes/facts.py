"""The facts the normalizer records on a change so the compliance side can judge it: each
reviewer's latest approval (``latest_approvals``), who pushed a pull request's head
(``head_push``/``PushLookup``, with the head committer as the declared fallback), the check runs
of a SHA (``check_runs``), approvers as login and display name (``people``) and a GitLab merge
request's approval rules as GitLab states them (``gitlab_rule_facts``).

Nothing here decides whether an approval is independent or whether checks passed: that is
policy (PCI DSS 6.5.1 / CHK-04, CHK-10, CHK-11) and lives in ``monitor.compliance.change_review``,
which reads these fields back off the document. No documents are built here.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .common import _gl_user, _iso, _login

#: bounds on the people lists a document carries; a list cut short says so
#: (``*_truncated``) and the judgement then refuses independence rather than guess
MAX_PEOPLE = 1000


@dataclass(frozen=True, slots=True)
class CheckRuns:
    """The check runs (GitHub) or pipelines (GitLab) of one SHA, and the names a branch
    requires, as the forge reported them."""

    sha: str
    checks: list[dict[str, Any]] = field(default_factory=list)
    required: list[str] = field(default_factory=list)


def check_runs(sha: str, runs: Iterable[dict[str, Any]],
               required: Sequence[str] = ()) -> CheckRuns:
    """GitHub check runs (``name``/``status``/``conclusion``) or GitLab pipelines
    (``status``) as bounded facts: a name, the conclusion, when it completed."""
    checks = []
    for run in runs:
        name = str(run.get("name") or run.get("ref") or run.get("id") or "")[:256]
        conclusion = run.get("conclusion") or run.get("status") or ""
        checks.append({"name": name, "conclusion": str(conclusion)[:64],
                       "completed_at": run.get("completed_at") or run.get("updated_at")})
    return CheckRuns(sha, checks, [str(r)[:256] for r in required])


def _checks_fields(runs: CheckRuns | None) -> dict[str, Any]:
    if runs is None:
        return {}
    out: dict[str, Any] = {"checks": runs.checks[:200], "checks_sha": runs.sha}
    if len(runs.checks) > 200:
        out["checks_truncated"] = True
    if runs.required:
        out["checks_required"] = runs.required
    return out


def people(users: Iterable[Any], key: Any = _gl_user) -> list[dict[str, str]]:
    """Forge user objects as ``{login, name}`` (sorted, unique by login, bounded)."""
    found: dict[str, str] = {}
    for user in users:
        login = key(user)
        if login:
            found[login] = str(user.get("name") or "")[:256] if isinstance(user, dict) else ""
    return [{"login": k, "name": found[k]} for k in sorted(found)][:MAX_PEOPLE]


def latest_approvals(reviews: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each reviewer's latest opinionated review (APPROVED, CHANGES_REQUESTED, DISMISSED)."""
    latest: dict[str, dict[str, Any]] = {}
    for review in sorted(reviews, key=lambda r: str(r.get("submitted_at") or "")):
        login = _login(review.get("user"))
        if login and review.get("state") in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[login] = review
    return {login: r for login, r in latest.items() if r.get("state") == "APPROVED"}


#: Repository Activity API types that put a SHA on a branch by a push: a branch created by
#: pushing the head SHA is a ``branch_creation``, not a ``push``
PUSH_ACTIVITY_TYPES = frozenset({"push", "force_push", "branch_creation"})


@dataclass(frozen=True, slots=True)
class PushLookup:
    """Who put a pull request's head SHA on its head branch. From the Repository Activity API
    (``GET /repos/{o}/{r}/activity``: ``actor``, ``activity_type``, ``timestamp``, ``before``),
    or, when that API had no answer, only ``fallback``: why not. The document then falls back
    to the head commit's committer and says so, because an approximated pusher can make an
    approval look independent when it is not (someone pushing another person's commits)."""

    actor: str | None = None
    activity_type: str | None = None
    timestamp: str | None = None
    before: str | None = None
    fallback: str | None = None


def head_push(activities: Iterable[Any], head_sha: str,
              merged_at: str | None = None) -> PushLookup | None:
    """The latest push-like activity whose ``after`` is ``head_sha``, at or before the merge
    (a branch re-created later at the same SHA is not the push that was merged). None when
    this page has none; an entry without an actor (deleted account) is a fallback."""
    best: dict[str, Any] | None = None
    for item in activities:
        if not isinstance(item, dict) or item.get("after") != head_sha \
                or item.get("activity_type") not in PUSH_ACTIVITY_TYPES:
            continue
        when = str(item.get("timestamp") or "")
        if merged_at and when and when > merged_at:
            continue
        if best is None or when > str(best.get("timestamp") or ""):
            best = item
    if best is None:
        return None
    actor = _login(best.get("actor"))
    return PushLookup(actor=actor, activity_type=str(best.get("activity_type")),
                      timestamp=_iso(best.get("timestamp")), before=_iso(best.get("before")),
                      fallback=None if actor else "push_without_actor")


def _head_committer(commits: Sequence[dict[str, Any]], head_sha: Any) -> str | None:
    """The fallback pusher: the head commit's committer (its author when GitHub committed it)."""
    head = next((c for c in commits if c.get("sha") == head_sha), commits[-1] if commits else {})
    pusher = _login(head.get("committer")) if head else None
    if pusher and pusher.casefold() == "web-flow":
        pusher = _login(head.get("author"))
    return pusher


def gitlab_rule_facts(state: dict[str, Any] | None, unavailable: str | None = None
                      ) -> dict[str, Any]:
    """A merge request's approval rules (``merge_requests/:iid/approval_state``) as GitLab
    states them: per rule the approvals required, who approved (login and display name),
    who was eligible and GitLab's own ``approved`` (which can be true on a self-approval when
    the project allows one). Without an answer: ``available: false`` and the ``reason``
    (approval rules are a paid tier; 403/404 without it)."""
    if state is None:
        return {"available": False, "reason": unavailable or "not_looked_up"}
    rules: list[dict[str, Any]] = []
    for rule in state.get("rules") or []:
        if not isinstance(rule, dict):
            continue
        users = [u.get("user") if isinstance(u.get("user"), dict) else u
                 for u in rule.get("approved_by") or [] if isinstance(u, dict)]
        approvals = people(users)
        eligible = [_gl_user(u) for u in rule.get("eligible_approvers") or []
                    if isinstance(u, dict)]
        rules.append({"id": str(rule.get("id")),
                      "name": str(rule.get("name") or rule.get("id") or "")[:256],
                      "rule_type": str(rule.get("rule_type") or "")[:64],
                      "approvals_required": int(rule.get("approvals_required") or 0),
                      "approved": bool(rule.get("approved")),
                      "approved_by": [p["login"] for p in approvals], "approvals": approvals,
                      "eligible_approvers": sorted({e for e in eligible if e})[:200]})
    out: dict[str, Any] = {"available": True,
                           "overwritten": bool(state.get("approval_rules_overwritten")),
                           "rules": rules[:100]}
    if len(rules) > 100:
        out["rules_truncated"] = True
    return out
