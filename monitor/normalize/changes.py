"""Where a commit, tag, pull request, review, deployment or sync becomes a ``changes`` document.

Pure functions: parsed git records (``monitor.sources.git``) and forge API objects (GitHub,
GitLab, Argo CD JSON as documented) in, ``Document(kind="changes", id=..., source=...)`` out.
No I/O and no clock: a time that is not in the input (when a rewrite was detected) is passed in.

Ids are stable so a replay collides instead of duplicating: ``git:<repo>:commit:<sha>``,
``github:<source>:<owner/name>:deployment:<id>``, ``argocd:<source>:<app>:history:<id>`` …

Field names follow ``monitor.store.mappings.CHANGES``; ``change.kind`` is one of ``KINDS``.
Text from commits and forges is attacker-controlled: it is truncated, never interpreted, and
trailer keys become values (``change.trailers[].key``), never field names.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..identifiers import TICKET_PATTERN
from ..model import Document

__all__ = [
    "KINDS",
    "PUSH_ACTIVITY_TYPES",
    "ApprovalVerdict",
    "ChecksVerdict",
    "PushLookup",
    "RepoInfo",
    "approval_verdict",
    "argocd_history_document",
    "argocd_operation_document",
    "branch_protection_document",
    "change_id",
    "checks_verdict",
    "commit_document",
    "find_tickets",
    "github_deployment_document",
    "github_deployment_status_document",
    "github_direct_push_document",
    "github_pull_request_document",
    "github_review_document",
    "gitlab_approval_rules",
    "gitlab_deployment_document",
    "gitlab_merge_request_document",
    "head_push",
    "history_gap_document",
    "parse_trailers",
    "rewrite_document",
    "tag_deleted_document",
    "tag_document",
    "tag_moved_document",
]

KINDS = ("commit", "merge", "tag", "tag_moved", "tag_deleted", "history_rewrite", "deployment",
         "deployment_status", "pull_request", "review", "direct_push", "branch_protection",
         "argocd_sync", "history_gap")

_MAX_SUBJECT = 4_000
_MAX_BODY = 64_000
_MAX_PATHS = 2_000
_MAX_TRAILERS = 50
_MAX_TICKETS = 50
_TRAILER_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]{0,62}):[ \t]*(.*)$")
_FORGE_BOT = re.compile(r"\[bot\]$|^(?:github-actions|dependabot|renovate)", re.IGNORECASE)
_SUCCESS = frozenset({"success", "neutral", "skipped"})
_BLANKISH = re.compile(r"\n[ \t]+\n")


@dataclass(frozen=True, slots=True)
class RepoInfo:
    name: str
    url: str = ""
    ticket_pattern: str = TICKET_PATTERN


def change_id(*parts: str) -> str:
    """Join id parts with ``:``; hash when too long for an ``_id`` (hostile names)."""
    text = ":".join(parts)
    if len(text.encode("utf-8")) <= 256:
        return text
    return parts[0] + ":" + hashlib.sha256(text.encode("utf-8")).hexdigest()


@lru_cache(maxsize=32)
def _ticket_re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def find_tickets(texts: Iterable[str], pattern: str = TICKET_PATTERN) -> list[str]:
    """Ticket ids in order of first appearance, at most ``_MAX_TICKETS``."""
    regex = _ticket_re(pattern)
    seen: dict[str, None] = {}
    for text in texts:
        if not text:
            continue
        for match in regex.finditer(text[:_MAX_BODY]):
            seen.setdefault(match.group(0)[:128], None)
            if len(seen) >= _MAX_TICKETS:
                return list(seen)
    return list(seen)


def parse_trailers(body: str) -> list[tuple[str, str]]:
    """``Key: value`` lines of the message's last paragraph (git's rule, simplified: every
    non-continuation line must be a trailer). Values are self-asserted text, not proof."""
    if not body or ":" not in body:
        return []
    text = body.strip("\n")[-_MAX_BODY:]
    cut = text.rfind("\n\n")
    last = text[cut + 2:] if cut >= 0 else text
    if "\n" in last and _BLANKISH.search(last):  # a whitespace-only separator line
        paragraphs = [p for p in re.split(r"\n[ \t]*\n", text) if p.strip()]
        last = paragraphs[-1] if paragraphs else ""
    if ":" not in last:
        return []
    out: list[tuple[str, str]] = []
    for line in last.split("\n"):
        if line[:1] in (" ", "\t") and out:  # folded continuation
            key, value = out[-1]
            out[-1] = (key, f"{value} {line.strip()}")
            continue
        match = _TRAILER_RE.match(line)
        if not match:
            return []
        out.append((match.group(1), match.group(2).strip()[:1024]))
    return out[:_MAX_TRAILERS]


def _iso(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _base(kind: str, timestamp: str | None, dataset: str, provider: str, source: str,
          message: str, *, action: str | None = None, type_: str = "change") -> dict[str, Any]:
    return {
        "@timestamp": timestamp,
        "message": message[:_MAX_SUBJECT],
        "event": {"kind": "event", "category": ["configuration"], "type": [type_],
                  "action": action or kind.replace("_", "-"), "dataset": dataset,
                  "provider": provider, "module": "changes"},
        "monitor": {"source": source},
    }


def _related(*users: Any, hashes: Sequence[str] = ()) -> dict[str, Any]:
    related: dict[str, Any] = {}
    names = sorted({str(u) for u in users if u})
    if names:
        related["user"] = names[:100]
    if hashes:
        related["hash"] = sorted({h for h in hashes if h})
    return related


# -- git -------------------------------------------------------------------------------------

def commit_document(repo: RepoInfo, branch: str, commit: Any, signature: Any = None, *,
                    mainline: bool | None = None) -> Document:
    """``commit`` is a ``monitor.sources.git.GitCommit``; ``signature`` a ``Signature``.
    On the hot path of a first import (100k commits): keep it free of avoidable work."""
    sha = commit.sha
    parents = commit.parents
    kind = "merge" if len(parents) > 1 else "commit"
    subject, body = commit.subject, commit.body
    doc_id = f"git:{repo.name}:commit:{sha}"
    paths = commit.paths
    if len(paths) > _MAX_PATHS:
        shown = paths[:_MAX_PATHS]
    else:
        shown = paths
    author = {"name": commit.author_name[:256], "email": commit.author_email[:256],
              "time": commit.author_time or None}
    change: dict[str, Any] = {
        "kind": kind, "id": doc_id, "repo": repo.name, "branch": branch.removeprefix("refs/heads/"),
        "ref": branch, "sha": sha, "parents": list(parents),
        "is_merge": kind == "merge", "subject": subject[:_MAX_SUBJECT],
        "body": body[:_MAX_BODY], "forge": "git", "author": author,
        "committer": {"name": commit.committer_name[:256], "email": commit.committer_email[:256],
                      "time": commit.committer_time or None},
        "tickets": find_tickets((f"{subject}\n{body}" if body else subject,), repo.ticket_pattern),
        "paths": [p for _, p in shown],
        "path_changes": [f"{s}\t{p}" for s, p in shown],
        "paths_count": len(paths),
    }
    if shown is not paths:
        change["paths_truncated"] = True
    if mainline is not None:
        change["mainline"] = mainline
    trailers = parse_trailers(body)
    if trailers:
        change["trailers"] = [{"key": k, "value": v} for k, v in trailers]
        for key, value in trailers:
            field_name = _TRAILER_FIELDS.get(key.lower())
            if field_name:
                change.setdefault(field_name, []).append(value)
    if signature is not None:
        change["signature"] = _signature(signature, commit.committer_email)
    if repo.url:
        change["url"] = repo.url
    author_email, committer_email = commit.author_email, commit.committer_email
    if author_email == committer_email:
        related: dict[str, Any] = {"user": [author_email], "hash": [sha]} if author_email \
            else {"hash": [sha]}
    else:
        related = {"user": sorted({author_email, committer_email} - {""}), "hash": [sha]}
    source = {
        "@timestamp": commit.committer_time or None,
        "message": subject[:_MAX_SUBJECT],
        "event": {"kind": "event", "category": ["configuration"], "type": ["change"],
                  "action": f"git-{kind}", "dataset": f"git.{kind}", "provider": "git",
                  "module": "changes", "id": sha},
        "monitor": {"source": repo.name},
        "user": {"name": author["name"], "email": author["email"]},
        "related": related,
        "change": change,
    }
    return Document("changes", doc_id, source)


_TRAILER_FIELDS = {"change-id": "change_id", "reviewed-by": "reviewed_by",
                   "approved-by": "approved_by", "co-authored-by": "co_authors"}


def _signature(sig: Any, committer_email: str) -> dict[str, Any]:
    out: dict[str, Any] = {"status": sig.status or "N", "signed": sig.signed,
                           "verified": sig.good}
    if sig.signer:
        out["signer"] = sig.signer[:256]
    if sig.key:
        out["key"] = sig.key[:256]
    if sig.fingerprint:
        out["fingerprint"] = sig.fingerprint[:256]
    matches = sig.matches(committer_email)
    if matches is not None:
        out["matches_committer"] = matches
    return out


def tag_document(repo: RepoInfo, tag: Any, signature: Any = None) -> Document:
    """``tag`` is a ``GitTag``; ``signature`` the verdict of a signed annotated tag, whose
    signer is compared with the tagger (as a commit's signer with its committer)."""
    doc_id = change_id("git", repo.name, "tag", tag.ref, tag.object_sha)
    source = _base("tag", tag.date or None, "git.tag", "git", repo.name,
                   f"tag {tag.name[:200]}: {tag.subject}", action="git-tag", type_="creation")
    source["change"] = {
        "kind": "tag", "id": doc_id, "repo": repo.name, "tag": tag.name[:1024], "ref": tag.ref,
        "sha": tag.target_sha, "new_sha": tag.object_sha, "annotated": tag.annotated,
        "target_type": tag.target_type, "subject": tag.subject[:_MAX_SUBJECT], "forge": "git",
        "tickets": find_tickets([tag.subject], repo.ticket_pattern),
        **({"tagger": {"name": tag.tagger_name[:256], "email": tag.tagger_email[:256],
                       "time": _iso(tag.date)}} if tag.annotated else {}),
    }
    if tag.annotated:
        source["change"]["signature"] = _signature(signature, tag.tagger_email) \
            if signature is not None else {"status": "N", "signed": False, "verified": False}
    source["related"] = _related(tag.tagger_email, hashes=[tag.target_sha, tag.object_sha])
    return Document("changes", doc_id, source)


def tag_moved_document(repo: RepoInfo, tag: Any, previous: Sequence[str],
                       detected_at: str) -> Document:
    old_object = previous[0] if previous else ""
    old_target = previous[1] if len(previous) > 1 else old_object
    doc_id = change_id("git", repo.name, "tag_moved", tag.ref, old_object, tag.object_sha)
    source = _base("tag_moved", detected_at, "git.tag_moved", "git", repo.name,
                   f"tag {tag.name[:200]} moved from {old_target[:12]} to {tag.target_sha[:12]}")
    source["event"]["outcome"] = "unknown"
    source["change"] = {"kind": "tag_moved", "id": doc_id, "repo": repo.name,
                        "tag": tag.name[:1024], "ref": tag.ref, "sha": tag.target_sha,
                        "old_sha": old_target, "new_sha": tag.target_sha, "forge": "git",
                        "old_object": old_object, "new_object": tag.object_sha}
    source["related"] = _related(hashes=[old_target, tag.target_sha])
    return Document("changes", doc_id, source)


def tag_deleted_document(repo: RepoInfo, ref: str, previous: Sequence[str],
                         detected_at: str) -> Document:
    old_object = previous[0] if previous else ""
    old_target = previous[1] if len(previous) > 1 else old_object
    name = ref.removeprefix("refs/tags/")
    doc_id = change_id("git", repo.name, "tag_deleted", ref, old_object)
    source = _base("tag_deleted", detected_at, "git.tag_deleted", "git", repo.name,
                   f"tag {name[:200]} deleted (was {old_target[:12]})", type_="deletion")
    source["change"] = {"kind": "tag_deleted", "id": doc_id, "repo": repo.name,
                        "tag": name[:1024], "ref": ref, "old_sha": old_target,
                        "old_object": old_object, "forge": "git"}
    source["related"] = _related(hashes=[old_target])
    return Document("changes", doc_id, source)


def rewrite_document(repo: RepoInfo, ref: str, old_sha: str, new_sha: str,
                     merge_base: str | None, detected_at: str) -> Document:
    doc_id = change_id("git", repo.name, "history_rewrite", ref, old_sha, new_sha)
    branch = ref.removeprefix("refs/heads/")
    source = _base("history_rewrite", detected_at, "git.history_rewrite", "git", repo.name,
                   f"history of {branch[:200]} rewritten: {old_sha[:12]} is not an ancestor of "
                   f"{new_sha[:12]}")
    source["change"] = {"kind": "history_rewrite", "id": doc_id, "repo": repo.name,
                        "branch": branch, "ref": ref, "sha": new_sha, "old_sha": old_sha,
                        "new_sha": new_sha, "merge_base": merge_base, "forge": "git"}
    source["related"] = _related(hashes=[old_sha, new_sha])
    return Document("changes", doc_id, source)


# -- approvals and checks --------------------------------------------------------------------

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


def _login(obj: Any) -> str | None:
    if isinstance(obj, dict):
        value = obj.get("login") or obj.get("username")
        return str(value)[:256] if value else None
    return None


# -- GitHub ----------------------------------------------------------------------------------

def github_deployment_document(source: str, repo: str, dep: dict[str, Any],
                               checks: ChecksVerdict | None = None,
                               run: dict[str, Any] | None = None,
                               approvals: Sequence[dict[str, Any]] = ()) -> Document:
    """A deployment; with the Actions ``run`` that performed it and that run's environment
    ``approvals`` (``actions/runs/{id}/approvals``), an approval is independent when the
    approver is neither the person who triggered the run nor its actor (CHK-10)."""
    doc_id = change_id("github", source, repo, "deployment", str(dep.get("id")))
    creator = _login(dep.get("creator"))
    extra: dict[str, Any] = {}
    if run is not None or approvals:
        run = run or {}
        triggered = _login(run.get("triggering_actor")) or _login(run.get("actor"))
        approved = [_login(a.get("user")) for a in approvals
                    if isinstance(a, dict) and a.get("state") == "approved"]
        verdict = approval_verdict([a for a in approved if a], triggered,
                                   [x for x in (_login(run.get("actor")),) if x])
        extra = {"approvers": verdict.approvers, "independent_approvers": verdict.independent,
                 "independent_approval": verdict.independent_approval}
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


def github_pull_request_document(source: str, repo: str, pr: dict[str, Any],
                                 reviews: Sequence[dict[str, Any]],
                                 commits: Sequence[dict[str, Any]],
                                 checks: ChecksVerdict | None = None,
                                 push: PushLookup | None = None) -> Document:
    """A merged pull request with its approval verdict. The last pusher is ``push.actor``
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
    verdict = approval_verdict(approvals, author, commit_people, last_pusher)
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
        "approvers": verdict.approvers, "independent_approvers": verdict.independent,
        "independent_approval": verdict.independent_approval,
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
    out["related"] = _related(author, merged_by, last_pusher, *verdict.approvers,
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


# -- GitLab ----------------------------------------------------------------------------------

def _gl_user(obj: Any) -> str | None:
    if isinstance(obj, dict):
        value = obj.get("username") or obj.get("name")
        return str(value)[:256] if value else None
    return None


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


# -- Argo CD ---------------------------------------------------------------------------------

def _argo_app(app: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    meta = app.get("metadata") or {}
    spec = app.get("spec") or {}
    return str(meta.get("name") or ""), spec, app.get("status") or {}


def _environment(spec: dict[str, Any], name: str) -> str:
    dest = spec.get("destination") or {}
    server = dest.get("name") or dest.get("server") or ""
    return f"{server}/{dest.get('namespace') or ''}".strip("/") or name


def argocd_history_document(source: str, app: dict[str, Any], entry: dict[str, Any]) -> Document:
    name, spec, _status = _argo_app(app)
    history_id = entry.get("id")
    doc_id = change_id("argocd", source, name, "history", str(history_id))
    initiated = entry.get("initiatedBy") or {}
    revision = entry.get("revision") or next(iter(entry.get("revisions") or []), None)
    src: dict[str, Any] = entry.get("source") or next(iter(entry.get("sources") or []), {}) or {}
    out = _base("argocd_sync", entry.get("deployedAt"), "argocd.history", "argocd", source,
                f"{name} synced to {str(revision)[:12]} (history {history_id})",
                action="argocd-sync")
    user = initiated.get("username")
    out["user"] = {"name": str(user)[:256]} if user else {}
    out["change"] = {
        "kind": "argocd_sync", "id": doc_id, "repo": str(src.get("repoURL") or "")[:1024],
        "forge": "argocd", "environment": _environment(spec, name), "sha": revision,
        "revision": revision, "phase": "Succeeded",
        "argocd": {"app": name, "project": spec.get("project"), "history_id": history_id,
                   "deployed_at": entry.get("deployedAt"),
                   "deploy_started_at": entry.get("deployStartedAt"),
                   "initiated_by": {"username": user, "automated": bool(initiated.get("automated"))},
                   "path": src.get("path"), "target_revision": src.get("targetRevision"),
                   "revisions": entry.get("revisions")},
    }
    out["related"] = _related(user, hashes=[str(revision or "")])
    return Document("changes", doc_id, out)


def argocd_operation_document(source: str, app: dict[str, Any]) -> Document | None:
    """The current operation (sync) state; one document per phase of each operation."""
    name, spec, status = _argo_app(app)
    op = status.get("operationState")
    if not isinstance(op, dict):
        return None
    phase = str(op.get("phase") or "")
    operation = op.get("operation") or {}
    initiated = operation.get("initiatedBy") or {}
    revision = (op.get("syncResult") or {}).get("revision") or \
        (operation.get("sync") or {}).get("revision")
    started = op.get("startedAt")
    doc_id = change_id("argocd", source, name, "operation", str(started), phase)
    out = _base("argocd_sync", op.get("finishedAt") or started, "argocd.operation", "argocd",
                source, f"{name} operation {phase}: {str(op.get('message') or '')[:500]}",
                action="argocd-operation")
    out["event"]["outcome"] = {"Succeeded": "success", "Failed": "failure",
                               "Error": "failure"}.get(phase, "unknown")
    user = initiated.get("username")
    out["user"] = {"name": str(user)[:256]} if user else {}
    out["change"] = {
        "kind": "argocd_sync", "id": doc_id, "forge": "argocd",
        "repo": str((spec.get("source") or {}).get("repoURL") or "")[:1024],
        "environment": _environment(spec, name), "sha": revision, "revision": revision,
        "phase": phase,
        "argocd": {"app": name, "project": spec.get("project"), "started_at": started,
                   "finished_at": op.get("finishedAt"), "retry_count": op.get("retryCount"),
                   "message": str(op.get("message") or "")[:2000],
                   "initiated_by": {"username": user, "automated": bool(initiated.get("automated"))},
                   "sync_status": (status.get("sync") or {}).get("status"),
                   "health": (status.get("health") or {}).get("status")},
    }
    out["related"] = _related(user, hashes=[str(revision or "")])
    return Document("changes", doc_id, out)


def history_gap_document(forge: str, source: str, subject: str, after_id: int, before_id: int,
                         detected_at: str) -> Document:
    """Entries ``after_id+1 .. before_id-1`` were deleted upstream before we saw them (CHK-30)."""
    doc_id = change_id(forge, source, subject, "history_gap", str(after_id), str(before_id))
    missing = max(0, before_id - after_id - 1)
    out = _base("history_gap", detected_at, f"{forge}.history_gap", forge, source,
                f"{subject}: {missing} history entries missed ({after_id + 1}..{before_id - 1})",
                type_="info")
    out["event"]["outcome"] = "failure"
    out["change"] = {"kind": "history_gap", "id": doc_id, "forge": forge, "repo": subject,
                     "gap": {"after_id": after_id, "before_id": before_id, "missing": missing},
                     "argocd": {"app": subject} if forge == "argocd" else {}}
    return Document("changes", doc_id, out)
