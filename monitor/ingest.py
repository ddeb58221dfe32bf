"""The one ingest pipeline: pull → normalize → write → commit the cursor.

``ingest_once(source, writer, state)`` drives any :class:`~monitor.sources.base.PullSource`:
it reads the source's cursor from the state index (the state document's value *is* the cursor,
under ``source.cursor_key`` when the source names one, so a source moved onto the pipeline keeps
its existing key and layout), fetches one batch, normalizes every record
through the source's pure ``normalize``, writes the result with the writer it is given (the
daemon's, whose hooks and per-source metrics see every write) and only then stores the next
cursor, with compare-and-set. A failed write raises before the cursor moves; stable document
ids make the repeat harmless. Sources never import ``store``.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .model import DeadLetter, Document
from .sources.base import PullSource
from .store import BulkResult, BulkWriter, StateStore

__all__ = ["IngestReport", "Judge", "cursor_key", "ingest_once", "ingest_pages", "ingest_stream"]


@dataclass(slots=True)
class IngestReport:
    """One run: records read, what the writer did, the source's own counts, the cursor now;
    ``rejected``: the dead letters the source's normalize returned (records it could not read;
    the writer's ``dead_lettered`` also counts any the store refused)."""

    records: int = 0
    result: BulkResult = field(default_factory=BulkResult)
    counts: dict[str, int] = field(default_factory=dict)
    cursor: Any = None
    rejected: int = 0

    def as_counts(self) -> dict[str, int]:
        return {"records": self.records, "indexed": self.result.indexed,
                "duplicates": self.result.duplicates,
                "dead_lettered": self.result.dead_lettered, **self.counts}


def cursor_key(source: PullSource[Any]) -> str:
    """Where the source's cursor lives: its own ``cursor_key``, else ``cursor:<name>``."""
    own = getattr(source, "cursor_key", None)
    return str(own) if own else f"cursor:{source.name}"


#: a stage between normalize and write that returns the document judged (e.g. a change's
#: approval and checks, ``monitor.compliance.change_review.judge_document``); the composition
#: root passes it, so the pipeline does not depend on the evaluating packages
Judge = Callable[[Document], Document]


async def ingest_once(source: PullSource[Any], writer: BulkWriter,
                      state: StateStore | None = None, *, close: bool = True,
                      judge: Judge | None = None) -> IngestReport:
    """Pull one batch of ``source`` into the store; the cursor moves only after the write.
    ``judge`` (when given) sees every document between the source's normalize and the write."""
    try:
        key = cursor_key(source)
        current = await state.get(key) if state is not None else None
        cursor = dict(current.value) if current is not None else None
        batch = await source.fetch(cursor)
        rejected = 0

        def items() -> Iterator[Document | DeadLetter]:
            nonlocal rejected
            for record in batch.records:
                for item in source.normalize(record):
                    if type(item) is DeadLetter:
                        rejected += 1
                    yield judge(item) if judge is not None and isinstance(item, Document) \
                        else item

        # a sender's claimed times must not choose the index (store/timewindow.py)
        result = await writer.write(items(), label=source.name,
                                    check_time=bool(getattr(source, "check_time", False)))
        if state is not None and batch.next_cursor is not None and batch.next_cursor != cursor:
            # a page that another follows need not wait for searches to see its cursor (the
            # compare-and-set read is real-time): a refresh wait per page would halve a long
            # import's pace; the last page of a run waits, for reports that search the state
            await state.put(key, batch.next_cursor, current,
                            visible=not getattr(source, "more", False))
        return IngestReport(len(batch.records), result, dict(batch.counts), batch.next_cursor,
                            rejected)
    finally:
        if close:
            await source.close()


async def ingest_pages(source: PullSource[Any], writer: BulkWriter, state: StateStore | None,
                       *, max_rounds: int | None = None,
                       judge: Judge | None = None) -> list[IngestReport]:
    """``ingest_once`` again while the source says another page waits (its ``more``) and the
    cursor still moves, each page's cursor committed after its own write; at most
    ``max_rounds`` pages (None: until the source is done, for a source that bounds itself).
    The source stays open (the caller keeps it across runs)."""
    reports: list[IngestReport] = []
    previous: Any = None
    while max_rounds is None or len(reports) < max_rounds:
        report = await ingest_once(source, writer, state, close=False, judge=judge)
        reports.append(report)
        if not report.records or report.cursor is None or report.cursor == previous \
                or not getattr(source, "more", False):
            break
        previous = report.cursor
    return reports


async def ingest_stream(source: PullSource[Any], writer: BulkWriter, *,
                        judge: Judge | None = None) -> IngestReport:
    """Every batch of a source that keeps no cursor (a one-shot import: a file given on the
    command line, stdin) through one write, fetching the next batch while the writer still has
    the last one's requests in flight. With no cursor there is nothing to commit between
    batches, so draining the writer at each batch border (what ``ingest_pages`` must do to
    commit a cursor after its write) would only leave Elasticsearch idle. The source stays open."""
    report = IngestReport()

    async def items() -> AsyncIterator[Document | DeadLetter]:
        while True:
            batch = await source.fetch(None)
            report.records += len(batch.records)
            for key, value in batch.counts.items():
                report.counts[key] = report.counts.get(key, 0) + value
            for record in batch.records:
                for item in source.normalize(record):
                    if type(item) is DeadLetter:
                        report.rejected += 1
                    yield judge(item) if judge is not None and isinstance(item, Document) \
                        else item
            if not getattr(source, "more", False):
                break

    report.result = await writer.write(items(), label=source.name,
                                       check_time=bool(getattr(source, "check_time", False)))
    return report
