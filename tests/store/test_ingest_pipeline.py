"""The one ingest pipeline: normalize → write → cursor, the cursor moving only after the write."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from monitor.errors import StoreUnavailable
from monitor.ingest import cursor_key, ingest_once
from monitor.model import DeadLetter, Document
from monitor.settings import BulkSettings, ElasticsearchSettings
from monitor.sources.base import Batch
from monitor.store import BulkWriter, StateStore, Store, open_store


class Numbers:
    """A pull source over a list: the cursor is the next position."""

    name = "numbers"

    def __init__(self, values: list[int]) -> None:
        self.values, self.seen, self.closed = values, [], False

    async def fetch(self, cursor: dict[str, Any] | None) -> Batch[int]:
        start = int((cursor or {}).get("position", 0))
        self.seen.append(start if cursor else None)
        chunk = self.values[start:start + 3]
        return Batch(chunk, {"position": start + len(chunk)}, {"odd": sum(v % 2 for v in chunk)})

    def normalize(self, record: int) -> Iterable[Document | DeadLetter]:
        if record < 0:
            return [DeadLetter("numbers", str(record).encode(), "negative")]
        return [Document("events", f"n-{record}", {"@timestamp": "2026-11-24T10:00:00Z",
                                                   "event": {"sequence": record}})]

    async def close(self) -> None:
        self.closed = True


async def test_writes_then_commits_the_cursor_and_resumes_from_it(store: Store) -> None:
    state, source = StateStore(store), Numbers([1, 2, -3, 4, 5])
    first = await ingest_once(source, BulkWriter(store), state)
    assert (first.records, first.result.indexed, first.result.dead_lettered) == (3, 2, 1)
    assert first.counts == {"odd": 2} and source.closed
    assert (await state.get(cursor_key(source))).value == {"position": 3}
    second = await ingest_once(source, BulkWriter(store), state)
    assert source.seen == [None, 3] and second.result.indexed == 2
    assert (await state.get(cursor_key(source))).value == {"position": 5}


async def test_a_failed_write_leaves_the_cursor_where_it_was(store: Store) -> None:
    state = StateStore(store)
    await ingest_once(Numbers([1, 2, 3, 4]), BulkWriter(store), state)
    nowhere = open_store(ElasticsearchSettings(hosts=["http://127.0.0.1:9"],
                                               request_timeout_seconds=5), store.names.prefix)
    quick = BulkSettings(max_retries=0, initial_backoff_seconds=0.01, max_backoff_seconds=0.01)
    source = Numbers([1, 2, 3, 4])
    try:
        with pytest.raises(StoreUnavailable):
            await ingest_once(source, BulkWriter(nowhere, quick), state)
    finally:
        await nowhere.close()
    assert source.seen == [3] and source.closed  # closed even when the write failed
    assert (await state.get(cursor_key(source))).value == {"position": 3}


async def test_a_source_keeps_its_own_state_key(store: Store) -> None:
    """A source moved onto the pipeline names its existing key; the value is the cursor."""
    state, source = StateStore(store), Numbers([7, 8])
    source.cursor_key = "numbers:legacy"  # type: ignore[attr-defined]  # the optional attribute
    await state.put("numbers:legacy", {"position": 1}, None)
    report = await ingest_once(source, BulkWriter(store), state)
    assert source.seen == [1] and report.records == 1
    assert (await state.get("numbers:legacy")).value == {"position": 2}
    assert await state.get("cursor:numbers") is None


async def test_the_report_counts_what_normalize_rejected(store: Store) -> None:
    """Dead letters from the source's normalize, apart from any the store refused."""
    report = await ingest_once(Numbers([1, -2, -3]), BulkWriter(store), None)
    assert (report.rejected, report.result.dead_lettered, report.result.indexed) == (2, 2, 1)


async def test_a_source_without_cursor_streams_every_batch_through_one_write(store):
    """``ingest_stream``: a one-shot source's batches go through one write (the writer never
    drains between them), every record normalized, the counts added up, and a Document
    judged on its way."""
    from monitor.ingest import ingest_stream
    from monitor.model import DeadLetter, Document
    from monitor.sources.base import Batch
    from monitor.store import BulkWriter

    class Numbers:
        name = "stream-test"
        more = True

        def __init__(self) -> None:
            self.left = [[1, 2, 3], [4, 5], [6, -1]]

        async def fetch(self, cursor):
            batch = self.left.pop(0)
            self.more = bool(self.left)
            return Batch(batch, None, {"seen": len(batch)})

        def normalize(self, record):
            if record < 0:
                return [DeadLetter("stream-test", b"-1", "negative")]
            return [Document("events", f"stream-{record}",
                             {"@timestamp": "2026-11-24T10:00:00Z", "n": record})]

        async def close(self):
            return None

    writes: list[int] = []

    class Counting(BulkWriter):
        async def write(self, items, **kw):  # one call per stream
            writes.append(1)
            return await super().write(items, **kw)

    judged: list[str] = []

    def judge(doc: Document) -> Document:
        judged.append(doc.id)
        return doc

    report = await ingest_stream(Numbers(), Counting(store), judge=judge)
    assert writes == [1]
    assert (report.records, report.counts, report.rejected) == (7, {"seen": 7}, 1)
    assert (report.result.indexed, report.result.dead_lettered) == (6, 1)
    assert judged == [f"stream-{n}" for n in range(1, 7)]
