"""The metrics' read-backs (``store.stats``) answer through ``store.search`` on a live node."""
from __future__ import annotations

from monitor.model import Document
from monitor.store import BulkWriter, Store
from monitor.store import stats as store_stats


def _finding(doc_id: str, severity: str, status: str = "open") -> Document:
    return Document("findings", doc_id, {
        "@timestamp": "2026-11-24T10:00:00Z",
        "finding": {"id": doc_id, "status": status},
        "rule": {"severity": severity}})


async def test_fresh_prefix_answers_zeros(store: Store) -> None:
    assert await store_stats.open_findings_by_severity(store) == {}
    assert await store_stats.last_reports(store) == {}
    assert await store_stats.latest_control_statuses(store) == []
    assert await store_stats.count_docs(store, "findings") == 0


async def test_open_findings_and_id_counts(store: Store) -> None:
    await BulkWriter(store).write([_finding("f1", "high"), _finding("f2", "high"),
                                   _finding("f3", "low", "closed")], refresh=True)
    assert await store_stats.open_findings_by_severity(store) == {"high": 2}
    assert await store_stats.count_docs(store, "findings") == 3
    assert await store_stats.finding_id_counts(store) == {"f1": 1, "f2": 1, "f3": 1}
