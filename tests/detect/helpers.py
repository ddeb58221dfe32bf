"""Test helpers for the rule engine: ECS events built directly, bulk-loaded into a store."""
from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from monitor.detect.fixtures import nest
from monitor.detect.schema import Rule, parse_rule
from monitor.model import Document
from monitor.store import BulkWriter, Store

BASE_RULE: dict[str, Any] = {
    "id": "00000000-0000-4000-8000-000000000001", "name": "test rule",
    "description": "a rule made by a test", "version": 1, "status": "test",
    "severity": "medium", "risk_score": 40, "threat": [{"tactic": "TA0006"}],
    "pci_dss_v4_0_1": ["8.3.4"], "note": "## Triage\nlook at it, then decide",
}


def make_rule(**fields: Any) -> Rule:
    """A valid rule; a fresh id each call so window state never leaks between tests."""
    return parse_rule({**BASE_RULE, "id": str(uuid.uuid4()), **fields}, "<test>")


def event(at: datetime, **fields: Any) -> tuple[str, dict[str, Any]]:
    flat = {"@timestamp": at.isoformat().replace("+00:00", "Z"), **fields}
    doc = nest({k.replace("__", "."): v for k, v in flat.items()})
    doc_id = hashlib.sha1(repr(sorted(flat.items())).encode()).hexdigest()[:20]
    doc.setdefault("event", {}).setdefault("id", doc_id)
    return doc_id, doc


def series(start: datetime, count: int, every: timedelta, **fields: Any) -> list[tuple[str, dict]]:
    return [event(start + i * every, seq=i, **fields) for i in range(count)]


async def load(store: Store, docs: list[tuple[str, dict]], kind: str = "events") -> None:
    result = await BulkWriter(store).write([Document(kind, i, d) for i, d in docs], refresh=True)
    assert result.indexed == len(docs), result
