"""What every ``changes`` document shares: the repository a git document belongs to
(``RepoInfo``), stable ids (``change_id``), ticket ids and trailers read from attacker-controlled
text (truncated, never interpreted), the ``_base`` skeleton with ``event``/``monitor`` fields,
``related`` values, timestamps and the forges' user names, and the ``history_gap`` document any
provider records when entries were deleted upstream before they were read.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ...identifiers import TICKET_PATTERN
from ...model import Document

KINDS = ("commit", "merge", "tag", "tag_moved", "tag_deleted", "history_rewrite", "deployment",
         "deployment_status", "pull_request", "review", "direct_push", "branch_protection",
         "argocd_sync", "history_gap")


_MAX_SUBJECT = 4_000
_MAX_BODY = 64_000
_MAX_PATHS = 2_000
_MAX_TRAILERS = 50
_MAX_TICKETS = 50
_TRAILER_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]{0,62}):[ \t]*(.*)$")
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


def _login(obj: Any) -> str | None:
    if isinstance(obj, dict):
        value = obj.get("login") or obj.get("username")
        return str(value)[:256] if value else None
    return None


def _gl_user(obj: Any) -> str | None:
    if isinstance(obj, dict):
        value = obj.get("username") or obj.get("name")
        return str(value)[:256] if value else None
    return None


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
