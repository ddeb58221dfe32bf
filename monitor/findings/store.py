"""Findings in Elasticsearch: write (create-only), read, list and lifecycle transitions."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import MonitorError
from ..model import Document
from ..store import BulkWriter, Store
from ..store.search import get_doc, replace_doc, search
from .build import iso

__all__ = ["LIFECYCLE", "WriteResult", "write_findings", "get_finding", "list_findings",
           "transition", "effective_status"]

#: allowed transitions: from → set of to
LIFECYCLE = {"open": {"acknowledged", "closed"}, "acknowledged": {"closed"}, "closed": set()}


@dataclass
class WriteResult:
    created: int = 0
    duplicates: int = 0


async def write_findings(store: Store, docs: list[dict[str, Any]],
                         refresh: bool = True, *, writer: BulkWriter | None = None
                         ) -> WriteResult:
    """Create the finding documents (an existing id is a duplicate). ``writer``: the daemon's,
    so its result hooks and metrics see findings too; a plain one for the CLI and tests."""
    if not docs:
        return WriteResult()
    writer = writer or BulkWriter(store)
    result = await writer.write((Document("findings", d["finding"]["id"], d) for d in docs),
                                label="findings")
    if refresh:
        await writer.refresh(("findings",))
    return WriteResult(created=result.indexed, duplicates=result.duplicates)


def effective_status(source: dict[str, Any], now: datetime | None = None) -> str:
    """Stored status, except a waived finding whose exception expired reads as open again."""
    finding = source.get("finding", {})
    status: str = finding.get("status", "open")
    if finding.get("suppressed") and status == "open":
        expires = finding.get("exception_expires")
        now = now or datetime.now(UTC)
        if expires and datetime.fromisoformat(expires.replace("Z", "+00:00")) <= now:
            return "open"
        return "excepted"
    return status


async def get_finding(store: Store, finding_id: str) -> dict[str, Any] | None:
    found = await get_doc(store, "findings", finding_id)
    return None if found is None else found[1]


async def list_findings(store: Store, *, status: str | None = None, rule_id: str | None = None,
                        since: datetime | None = None, limit: int = 50,
                        now: datetime | None = None,
                        severity: str | None = None) -> list[dict[str, Any]]:
    """Newest first, at most ``limit`` (a listing for people, not a bulk export)."""
    filters: list[dict[str, Any]] = []
    if rule_id:
        filters.append({"term": {"rule.id": rule_id}})
    if severity:
        filters.append({"term": {"rule.severity": severity}})
    if since:
        filters.append({"range": {"@timestamp": {"gte": iso(since)}}})
    if status in ("acknowledged", "closed"):
        filters.append({"term": {"finding.status": status}})
    elif status in ("open", "excepted"):
        filters.append({"term": {"finding.status": "open"}})
    body = {"size": min(limit * 4 if status else limit, 1000), "query": {"bool": {"filter": filters}},
            "sort": [{"@timestamp": "desc"}, {"finding.id": "asc"}]}
    response = await search(store, "findings", body)
    out = [h["_source"] for h in response["hits"]["hits"]]
    if status in ("open", "excepted"):
        out = [s for s in out if effective_status(s, now) == status]
    return out[:limit]


async def transition(store: Store, finding_id: str, to: str, who: str, why: str,
                     now: datetime | None = None) -> dict[str, Any]:
    """Move a finding along its lifecycle; compare-and-set so two analysts cannot both win."""
    if not who.strip() or not why.strip():
        raise MonitorError("who and why are required")
    found = await get_doc(store, "findings", finding_id)
    if found is None:
        raise MonitorError(f"no finding {finding_id}")
    index, source, seq_no, term = found
    current = source["finding"].get("status", "open")
    if to not in LIFECYCLE.get(current, set()):
        raise MonitorError(f"finding {finding_id} is {current}; cannot move to {to} "
                           f"(allowed: {', '.join(sorted(LIFECYCLE.get(current, ()))) or 'none'})")
    now = now or datetime.now(UTC)
    source["finding"]["status"] = to
    history = list(source["finding"].get("history") or [])
    history.append({"at": iso(now), "by": who, "action": to, "from": current, "to": to,
                    "why": why})
    source["finding"]["history"] = history
    await replace_doc(store, index, finding_id, source, seq_no, term)
    return source
