"""The judgement on a change: is its approval independent, did its checks pass, are a GitLab
merge request's approval rules met (PCI DSS 6.5.1/6.5.2, 6.2.3; CHK-04, CHK-10, CHK-11).

The normalizer records facts (approvers, the author, the commit authors and committers, the last
pusher, the run that deployed, check runs, approval rules as the forge states them); this module
decides. ``judge_document`` is what the ingest pipeline applies to every change document before
it is written, because the minimal Elasticsearch has neither runtime fields nor scripts to judge
at query time: the verdict is stored beside the facts it was drawn from, so an auditor can
re-check it and a rule or control can filter on it. A change without the facts (a commit, a tag,
an Argo CD sync) passes through untouched.

Fail closed: an approver is independent only when the facts show it; a people list cut short
by a bound (``*_truncated``) or a rule list cut short is never judged independent or met.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..model import Document, get_field
from ..normalize.changes.facts import check_runs, gitlab_rule_facts

__all__ = ["ApprovalVerdict", "ChecksVerdict", "approval_verdict", "checks_verdict",
           "gitlab_approval_rules", "judge_change", "judge_document"]

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
    return ApprovalVerdict(approved, independent, sorted(excluded))


@dataclass(frozen=True, slots=True)
class ChecksVerdict:
    """Check runs for one SHA. ``passed`` is None when there is nothing to judge."""

    sha: str
    checks: list[dict[str, Any]] = field(default_factory=list)
    required: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    passed: bool | None = None


def _judge_checks(checks: Sequence[Mapping[str, Any]], required: Sequence[str]
                  ) -> tuple[bool | None, list[str]]:
    """With required names, each must be present and successful; without, every completed
    run must be successful and at least one must exist. (passed, missing)."""
    if required:
        by_name = {c.get("name"): c for c in checks}
        missing = [r for r in required if r not in by_name]
        passed = not missing and all(by_name[r].get("conclusion") in _SUCCESS for r in required)
        return passed, missing
    if not checks:
        return None, []
    return all(c.get("conclusion") in _SUCCESS for c in checks), []


def checks_verdict(sha: str, runs: Iterable[dict[str, Any]],
                   required: Sequence[str] = ()) -> ChecksVerdict:
    """Forge check runs or pipelines judged (see ``_judge_checks``)."""
    facts = check_runs(sha, runs, required)
    passed, missing = _judge_checks(facts.checks, facts.required)
    return ChecksVerdict(sha, facts.checks, facts.required, missing, passed)


def _excluding_names(approvals: Sequence[Mapping[str, Any]], independent: list[str],
                     commit_people: Iterable[str]) -> list[str]:
    """GitLab commits carry names and e-mails, not usernames: an approver whose display name
    is a commit author's or committer's name is not independent either."""
    names = {str(p.get("login")): str(p.get("name") or "") for p in approvals}
    people = {p.casefold() for p in commit_people}
    return [a for a in independent if names.get(a, "").casefold() not in people]


def _judge_rules(rules: Mapping[str, Any], author: str | None,
                 commit_people: Sequence[str]) -> dict[str, Any]:
    """GitLab approval rules judged like the approvals: a rule is ``satisfied`` when at least
    ``approvals_required`` of its approvers are independent. ``status`` is ``satisfied``,
    ``unmet``, ``no_required_rules`` (``satisfied`` absent: nothing was required, which is not
    the same as met) or ``unavailable``."""
    if not rules.get("available"):
        return {"status": "unavailable"}
    judged: list[dict[str, Any]] = []
    unmet: list[str] = []
    by: set[str] = set()
    for rule in rules.get("rules") or []:
        approvals = rule.get("approvals") or []
        verdict = approval_verdict([p.get("login") for p in approvals], author, commit_people)
        independent = _excluding_names(approvals, verdict.independent, commit_people)
        required = int(rule.get("approvals_required") or 0)
        satisfied = len(independent) >= required
        if required > 0 and satisfied:
            by.update(independent)
        elif required > 0:
            unmet.append(str(rule.get("name")))
        judged.append({**rule, "independent_approvers": independent, "satisfied": satisfied})
    required_rules = sum(1 for r in judged if r["approvals_required"] > 0)
    if rules.get("rules_truncated"):
        unmet.append("(rules beyond the first 100)")
    out: dict[str, Any] = {"required_rules": required_rules, "unmet": unmet,
                           "independent_approvers": sorted(by), "rules": judged}
    if required_rules or unmet:
        out["satisfied"] = not unmet
        out["status"] = "unmet" if unmet else "satisfied"
    else:
        out["status"] = "no_required_rules"
    return out


def gitlab_approval_rules(state: dict[str, Any] | None, author: str | None,
                          commit_people: set[str], unavailable: str | None = None
                          ) -> dict[str, Any]:
    """A merge request's ``approval_state`` as stored facts plus their judgement."""
    facts = gitlab_rule_facts(state, unavailable)
    return {**facts, **_judge_rules(facts, author, sorted(commit_people))}


def _approval_inputs(change: Mapping[str, Any]) -> tuple[str | None, list[str], str | None]:
    """(author, commit people, last pusher) of a change, by kind and forge."""
    if change.get("kind") == "deployment":
        if change.get("forge") == "github":
            actor = get_field(change, "run.actor")
            return get_field(change, "run.triggering_actor"), [actor] if actor else [], None
        return get_field(change, "deployment.creator"), [], None
    author = get_field(change, "author.login")
    return (author, list(get_field(change, "pull_request.commit_authors") or []),
            get_field(change, "pull_request.last_pusher"))


def judge_change(change: Mapping[str, Any]) -> dict[str, Any]:
    """The verdict fields for one ``change`` object: ``independent_approvers`` and
    ``independent_approval`` where approvers are recorded, ``checks_passed``/``checks_missing``
    where check runs are, the judged ``approval_rules`` for a GitLab merge request."""
    out: dict[str, Any] = {}
    if "approvers" in change:
        author, commit_people, last_pusher = _approval_inputs(change)
        verdict = approval_verdict(change.get("approvers") or [], author, commit_people,
                                   last_pusher)
        independent = verdict.independent
        if change.get("approvals"):
            independent = _excluding_names(change["approvals"], independent, commit_people)
        if get_field(change, "pull_request.commit_authors_truncated"):
            independent = []
        out["independent_approvers"] = independent
        out["independent_approval"] = bool(independent)
    if "checks_sha" in change:
        passed, missing = _judge_checks(change.get("checks") or [],
                                        change.get("checks_required") or [])
        if change.get("checks_truncated") and passed:
            passed = None
        if passed is not None:
            out["checks_passed"] = passed
        if change.get("checks_required"):
            out["checks_missing"] = missing
    if isinstance(change.get("approval_rules"), Mapping):
        author, commit_people, _ = _approval_inputs(change)
        out["approval_rules"] = {**change["approval_rules"],
                                 **_judge_rules(change["approval_rules"], author, commit_people)}
    return out


def judge_document(doc: Document) -> Document:
    """``doc`` with its change judged; any other document unchanged."""
    change = doc.source.get("change") if doc.kind == "changes" else None
    if not isinstance(change, Mapping):
        return doc
    verdict = judge_change(change)
    if not verdict:
        return doc
    return doc._replace(source={**doc.source, "change": {**change, **verdict}})
