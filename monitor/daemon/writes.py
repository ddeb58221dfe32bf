"""The daemon's writers: every write a source makes is counted for that source.

One ``BulkWriter`` per source label, all on the daemon's store, with the same two hooks: the
result of each write becomes the source's ingested / duplicate / dead-letter counters and its
last-event and last-success times; a rejection by Elasticsearch (429) counts once. Builders get
``writer_for(name)`` through the component graph; nothing else builds a writer in the daemon.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from ..metrics.definitions import Metrics
from ..store import BulkResult, BulkWriter, Store

__all__ = ["SourceWrites"]


class SourceWrites:
    """Writers whose results land in the per-source metrics of ``known()`` sources."""

    def __init__(self, metrics: Metrics, known: Callable[[], set[str]]) -> None:
        self.metrics, self.known = metrics, known

    def writer(self, store: Store) -> BulkWriter:
        """The shared writer: a result counts for the label its caller wrote with."""
        return BulkWriter(store, on_result=self.on_result, on_rejection=self.on_rejection)

    def writer_for(self, store: Store, source: str) -> BulkWriter:
        """A writer whose every result counts for ``source``, whatever the label."""
        return BulkWriter(store,
                          on_result=lambda _label, result: self.on_result(source, result),
                          on_rejection=self.on_rejection)

    def on_result(self, label: str, result: BulkResult) -> None:
        if label not in self.known():
            return
        metrics = self.metrics
        metrics.source_ingested.labels(source=label).inc(result.indexed)
        metrics.source_duplicates.labels(source=label).inc(result.duplicates)
        metrics.source_dead_lettered.labels(source=label).inc(result.dead_lettered)
        now = time.time()
        if result.indexed or result.dead_lettered:  # new records; replays do not count
            metrics.source_last_event.labels(source=label).set(now)
        metrics.source_last_success.labels(source=label).set(now)

    def on_rejection(self, count: int) -> None:
        self.metrics.es_bulk_rejections.inc(count)
