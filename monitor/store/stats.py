"""Small read-only aggregations the daemon exports as metrics (one function per question).

Each answers from an aggregation (never by downloading documents) and tolerates missing
indices, so a fresh install exports zeros instead of failing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .client import Store, translate_error
from .search import refresh, search

__all__ = [
    "ControlStatusRow",
    "count_docs",
    "finding_id_counts",
    "last_reports",
    "latest_control_statuses",
    "open_findings_by_severity",
]

_TOLERANT: dict[str, Any] = {"ignore_unavailable": True, "allow_no_indices": True}


def _ts(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) / 1000.0
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


async def open_findings_by_severity(store: Store) -> dict[str, int]:
    """Count of open findings per ``rule.severity``; a finding an active exception covers
    (``finding.suppressed``) is not waiting for anyone and does not page."""
    body = {"size": 0, "track_total_hits": False,
            "query": {"bool": {"filter": [{"term": {"finding.status": "open"}}],
                               "must_not": [{"term": {"finding.suppressed": True}}]}},
            "aggs": {"severity": {"terms": {"field": "rule.severity", "size": 10}}}}
    response = await search(store, "findings", body, what="count open findings")
    buckets = (response.get("aggregations") or {}).get("severity", {}).get("buckets", [])
    return {str(b["key"]): int(b["doc_count"]) for b in buckets}


@dataclass(frozen=True, slots=True)
class ControlStatusRow:
    control_id: str
    framework: str
    status: str
    requirements: tuple[str, ...]
    evaluated_at: float | None


async def latest_control_statuses(store: Store, max_controls: int = 500) -> list[ControlStatusRow]:
    """The newest result of every control (terms on control.id, top_hits size 1)."""
    body = {"size": 0, "track_total_hits": False,
            "aggs": {"controls": {
                "terms": {"field": "control.id", "size": max_controls},
                "aggs": {"latest": {"top_hits": {
                    "size": 1, "sort": [{"control.evaluated_at": {"order": "desc"}}],
                    "_source": ["control.id", "control.framework", "control.status",
                                "control.requirements", "control.evaluated_at"]}}}}}}
    response = await search(store, "compliance", body, what="read compliance results")
    rows = []
    buckets = (response.get("aggregations") or {}).get("controls", {}).get("buckets", [])
    for bucket in buckets:
        hits = bucket["latest"]["hits"]["hits"]
        if not hits:
            continue
        control = hits[0]["_source"].get("control", {})
        requirements = control.get("requirements") or []
        if isinstance(requirements, str):
            requirements = [requirements]
        rows.append(ControlStatusRow(
            control_id=str(control.get("id", bucket["key"])),
            framework=str(control.get("framework") or "pci-dss-4.0.1"),
            status=str(control.get("status", "insufficient_data")),
            requirements=tuple(str(r) for r in requirements),
            evaluated_at=_ts(control.get("evaluated_at"))))
    return rows


async def last_reports(store: Store) -> dict[tuple[str, str], float]:
    """Newest ``report.generated_at`` per (framework, period)."""
    body = {"size": 0, "track_total_hits": False,
            "aggs": {"framework": {"terms": {"field": "report.framework", "size": 20},
                                   "aggs": {"period": {"terms": {"field": "report.period",
                                                                 "size": 20},
                                                       "aggs": {"last": {"max": {
                                                           "field": "report.generated_at"}}}}}}}}
    response = await search(store, "reports", body, what="read reports")
    out: dict[tuple[str, str], float] = {}
    aggs = response.get("aggregations") or {}
    for framework in aggs.get("framework", {}).get("buckets", []):
        for period in framework["period"]["buckets"]:
            value = period["last"].get("value")
            if value is not None:
                out[(str(framework["key"]), str(period["key"]))] = float(value) / 1000.0
    return out


async def count_docs(store: Store, kind: str, query: dict[str, Any] | None = None) -> int:
    """Number of documents of ``kind`` (optionally matching ``query``)."""
    await refresh(store, [kind])
    try:
        response = await store.es.count(index=store.names.read(kind),
                                        query=query or {"match_all": {}}, **_TOLERANT)
    except Exception as exc:
        raise translate_error(exc, f"count {kind}") from exc
    return int(response.body["count"])


async def finding_id_counts(store: Store, size: int = 10_000) -> dict[str, int]:
    """How many documents carry each ``finding.id`` (more than 1 means a duplicate)."""
    body = {"size": 0, "track_total_hits": False,
            "aggs": {"ids": {"terms": {"field": "finding.id", "size": size,
                                       "min_doc_count": 1}}}}
    response = await search(store, "findings", body, what="count finding ids")
    buckets = (response.get("aggregations") or {}).get("ids", {}).get("buckets", [])
    return {str(b["key"]): int(b["doc_count"]) for b in buckets}
