"""The daemon's writers count every write for its source (daemon/writes.py)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry

from monitor.daemon.writes import SourceWrites
from monitor.metrics.definitions import Metrics
from monitor.model import DeadLetter, Document
from monitor.store import Store


def _value(registry: CollectorRegistry, name: str, source: str) -> float:
    return registry.get_sample_value(name, {"source": source}) or 0.0


async def test_writes_count_for_their_source_only_when_known(store: Store) -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, "test")
    writes = SourceWrites(metrics, known=lambda: {"files"})
    docs = [Document("events", f"w-{i}", {"@timestamp": "2026-11-24T10:00:00Z"})
            for i in range(3)]
    await writes.writer_for(store, "files").write(
        [*docs, DeadLetter("files", b"junk", "unparsable")], label="whatever")
    await writes.writer_for(store, "files").write(docs)  # a replay: duplicates only
    await writes.writer(store).write(docs, label="stranger")  # not a known source
    assert _value(registry, "monitor_source_events_ingested_total", "files") == 3
    assert _value(registry, "monitor_source_events_duplicate_total", "files") == 3
    assert _value(registry, "monitor_source_events_dead_lettered_total", "files") == 1
    assert _value(registry, "monitor_source_last_success_timestamp_seconds", "files") > 0
    assert _value(registry, "monitor_source_events_ingested_total", "stranger") == 0
