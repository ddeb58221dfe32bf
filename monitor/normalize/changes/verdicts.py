"""The judgements the normalizer records on a change: whether its approvals are independent
(``approval_verdict``: not the author, a commit author/committer, the last pusher or a bot),
whether its checks passed (``checks_verdict``), each reviewer's latest approval, who pushed a
pull request's head (``head_push``/``PushLookup``, with the head committer as the declared
fallback), and whether a GitLab merge request's approval rules were met by independent
approvers (``gitlab_approval_rules``). No documents are built here.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .common import _gl_user, _iso, _login

_FORGE_BOT = re.compile(r"\[bot\]$|^(?:github-actions|dependabot|renovate)", re.IGNORECASE)
_SUCCESS = frozenset({"success", "neutral", "skipped"})


@dataclass(frozen=True, slots=True)
class ApprovalVerdict:
    approvers: list[str]
    independent: list[str]
    excluded: list[str]

    @property
    def independent_approval(self) -> bool:
        return bool(self.independent)


def approval_verdict(approvers: Iterable[str], author: str | None,
                     commit_authors: Iterable[str] = (), last_pusher: str | None = None
                     ) -> ApprovalVerdict:
    """An approval is independent when the approver is not the author, not an author or
    committer of a commit in the change, not the last pusher, and not a bot (CHK-04)."""
    approved = sorted({a for a in approvers if a})
    excluded = {x.casefold() for x in (author, last_pusher, *commit_authors) if x}
    independent = [a for a in approved if a.casefold() not in excluded
                   and not _FORGE_BOT.search(a)]
    return ApprovalVerdict(approved, independent, sorted({x for x in excluded}))


@dataclass(frozen=True, slots=True)
class ChecksVerdict:
    """Check runs for one SHA. ``passed`` is None when there is nothing to judge."""

    sha: str
    checks: list[dict[str, Any]] = field(default_factory=list)
    required: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    passed: bool | None = None


def checks_verdict(sha: str, runs: Iterable[dict[str, Any]],
                   required: Sequence[str] = ()) -> ChecksVerdict:
    """GitHub check runs (``name``/``status``/``conclusion``) or GitLab pipelines
    (``status``): with required names, each must be present and successful; without, every
    completed run must be successful and at least one must exist."""
    checks = []
    for run in runs:
        name = str(run.get("name") or run.get("ref") or run.get("id") or "")[:256]
        conclusion = run.get("conclusion") or run.get("status") or ""
        checks.append({"name": name, "conclusion": str(conclusion)[:64],
                       "completed_at": run.get("completed_at") or run.get("updated_at")})
    if required:
        by_name = {c["name"]: c for c in checks}
        missing = [r for r in required if r not in by_name]
        passed = not missing and all(by_name[r]["conclusion"] in _SUCCESS for r in required)
        return ChecksVerdict(sha, checks, list(required), missing, passed)
    if not checks:
        return ChecksVerdict(sha, checks, [], [], None)
    return ChecksVerdict(sha, checks, [], [], all(c["conclusion"] in _SUCCESS for c in checks))


def _checks_fields(verdict: ChecksVerdict | None) -> dict[str, Any]:
    if verdict is None:
        return {}
    out: dict[str, Any] = {"checks": verdict.checks[:200], "checks_sha": verdict.sha}
    if verdict.passed is not None:
        out["checks_passed"] = verdict.passed
    if verdict.required:
        out["checks_required"] = verdict.required
        out["checks_missing"] = verdict.missing
    return out


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


def _gitlab_independent(users: Iterable[Any], author: str | None,
                        commit_people: set[str]) -> tuple[list[str], list[str]]:
    """(approvers, independent approvers) among GitLab user objects, by the rule of
    ``approval_verdict``. GitLab commits carry names and e-mails, not usernames, so an
    approver whose display name is a commit author's or committer's name is excluded too."""
    names: dict[str, str] = {}
    for user in users:
        login = _gl_user(user)
        if login:
            names[login] = str(user.get("name") or "")
    verdict = approval_verdict(names, author, commit_people)
    people = {p.casefold() for p in commit_people}
    return verdict.approvers, [a for a in verdict.independent
                               if names[a].casefold() not in people]


def gitlab_approval_rules(state: dict[str, Any] | None, author: str | None,
                          commit_people: set[str], unavailable: str | None = None
                          ) -> dict[str, Any]:
    """The MR's approval rules (``merge_requests/:iid/approval_state``) judged like the
    MR's approvals: a rule is ``satisfied`` when at least ``approvals_required`` of its
    ``approved_by`` are independent (not the author, not a commit author/committer, not a
    bot). GitLab's own ``approved`` is kept beside it: it can be true on a self-approval
    when the project allows one. ``status`` is ``satisfied``, ``unmet``, ``no_required_rules``
    (``satisfied`` absent: nothing was required, which is not the same as met) or
    ``unavailable`` with the ``reason`` (approval rules are a paid tier; 403/404 without it)."""
    if state is None:
        return {"status": "unavailable", "available": False,
                "reason": unavailable or "not_looked_up"}
    rules: list[dict[str, Any]] = []
    unmet: list[str] = []
    by: set[str] = set()
    for rule in state.get("rules") or []:
        if not isinstance(rule, dict):
            continue
        name = str(rule.get("name") or rule.get("id") or "")[:256]
        required = int(rule.get("approvals_required") or 0)
        users = [u.get("user") if isinstance(u.get("user"), dict) else u
                 for u in rule.get("approved_by") or [] if isinstance(u, dict)]
        approvers, independent = _gitlab_independent(users, author, commit_people)
        satisfied = len(independent) >= required
        if required > 0 and satisfied:
            by.update(independent)
        elif required > 0:
            unmet.append(name)
        eligible = [_gl_user(u) for u in rule.get("eligible_approvers") or []
                    if isinstance(u, dict)]
        rules.append({"id": str(rule.get("id")), "name": name,
                      "rule_type": str(rule.get("rule_type") or "")[:64],
                      "approvals_required": required, "approved": bool(rule.get("approved")),
                      "approved_by": approvers, "independent_approvers": independent,
                      "eligible_approvers": sorted({e for e in eligible if e})[:200],
                      "satisfied": satisfied})
    required_rules = sum(1 for r in rules if r["approvals_required"] > 0)
    out: dict[str, Any] = {"available": True,
                           "overwritten": bool(state.get("approval_rules_overwritten")),
                           "required_rules": required_rules, "unmet": unmet,
                           "independent_approvers": sorted(by), "rules": rules[:100]}
    if required_rules:
        out["satisfied"] = not unmet
        out["status"] = "unmet" if unmet else "satisfied"
    else:
        out["status"] = "no_required_rules"
    return out
