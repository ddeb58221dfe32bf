"""Git's own changes as documents: commits and merges (with their trailers, tickets and
signature verdict), tags created, moved or deleted, and history rewrites of a branch. The input
is what ``monitor.sources.git`` parsed; a time that is not in it (when a tag move or a rewrite
was detected) is passed in.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...model import Document
from .common import (
    _MAX_BODY,
    _MAX_PATHS,
    _MAX_SUBJECT,
    RepoInfo,
    _base,
    _iso,
    _related,
    change_id,
    find_tickets,
    parse_trailers,
)


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
