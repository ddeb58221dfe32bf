"""Bulk writer: prebuilt NDJSON bodies, a bounded number of requests in flight, nothing lost.

Every document is written with ``op_type=create`` and a stable ``_id``: a replay answers 409
and is counted as a duplicate, never indexed twice. Per item:

* 201 → indexed; 409 → duplicate;
* 429 / 5xx → retried with exponential backoff (the rest of the batch is not resent);
* any other rejection (a mapping conflict, a malformed value) → the dead-letter index, with the
  serialized document and Elasticsearch's reason, while the rest of its batch is indexed.

A request that fails as a whole (connection refused, 429, 5xx) is retried with backoff; when
retries are exhausted ``StoreUnavailable`` is raised and the caller spools: because ids are
stable, re-sending the whole batch later is safe.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import random
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from ..errors import StoreError, StoreUnavailable
from ..model import DeadLetter, Document, EncodedSource
from ..settings import BulkSettings
from .client import Store, translate_error
from .timewindow import Screen, TimeWindow

__all__ = ["BulkResult", "BulkWriter", "dead_letter_source", "source_json"]

log = logging.getLogger(__name__)

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_FILTER = "took,errors,items.*.status,items.*.error.type,items.*.error.reason"


#: the kinds rules read (their mappings carry ``event.ingested``); the others are strict
#: mappings of our own records (findings, compliance, reports, state) that have no such field
INGEST_STAMPED = frozenset({"events", "changes"})


def stamp_ingested(document: dict[str, Any], at: str) -> None:
    """Every stored document carries ``event.ingested``: late-data evaluation cursors on it
    (``detect/late.py``). Normalizers that know the receive time set it (Check Point); change
    documents (git, forges, Argo CD) carry their commit/merge/deploy time only, so they get the
    time they are written here."""
    event = document.get("event")
    if event is None:
        document["event"] = {"ingested": at}
    elif type(event) is dict and "ingested" not in event:
        event["ingested"] = at


def _now_iso(clock: Callable[[], datetime]) -> str:
    return clock().astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def source_json(source: dict[str, Any] | EncodedSource) -> bytes:
    """The JSON the writer sends for a document's source (raises if it cannot be serialized)."""
    if type(source) is EncodedSource:
        return source.json
    return orjson.dumps(source, option=orjson.OPT_NON_STR_KEYS)


@dataclass(slots=True)
class BulkResult:
    """Counts per outcome. ``indexed`` counts documents only; every record that ends in the
    dead-letter index (passed in as a DeadLetter or rejected by a mapping, stored now or by an
    earlier run) is ``dead_lettered``; ``duplicates`` are documents already indexed."""

    indexed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retried: int = 0
    requests: int = 0
    #: documents whose claimed time was outside the plausible window (``store/timewindow.py``)
    time_out_of_window: int = 0
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: BulkResult) -> None:
        self.indexed += other.indexed
        self.duplicates += other.duplicates
        self.dead_lettered += other.dead_lettered
        self.retried += other.retried
        self.requests += other.requests
        self.time_out_of_window += other.time_out_of_window
        for reason, count in other.dead_letter_reasons.items():
            self.dead_letter_reasons[reason] = self.dead_letter_reasons.get(reason, 0) + count

    @property
    def total(self) -> int:
        return self.indexed + self.duplicates + self.dead_lettered


def dead_letter_source(letter: DeadLetter, now: datetime) -> tuple[str, dict[str, Any]]:
    """Stable id and document for a dead letter (same raw + reason → same id)."""
    digest = hashlib.sha256(letter.source.encode() + b"\0" + letter.raw + b"\0"
                            + letter.reason.encode()).hexdigest()
    received = (letter.received_at or now).astimezone(UTC)
    try:
        text = letter.raw.decode("utf-8")
        raw_field = {"raw": text[:32_000]}
    except UnicodeDecodeError:
        raw_field = {"raw_base64": base64.b64encode(letter.raw[:65_536]).decode()}
    return digest, {
        "@timestamp": received.isoformat().replace("+00:00", "Z"),
        "event": {"kind": "pipeline_error", "dataset": "monitor.deadletter"},
        "deadletter": {"source": letter.source, "reason": letter.reason[:2000],
                       "stage": letter.stage, "target_index": letter.target_index,
                       "received_at": received.isoformat().replace("+00:00", "Z"), **raw_field},
    }


@dataclass(slots=True)
class _Chunk:
    """One ``_bulk`` request: ``parts`` alternates action and body lines; parallel lists keep
    each document's index and label (cheaper than an object per document on the hot path)."""

    parts: list[bytes] = field(default_factory=list)
    indices: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def append(self, action: bytes, body: bytes, index: str, label: str) -> None:
        self.parts.append(action)
        self.parts.append(body)
        self.indices.append(index)
        self.labels.append(label)

    def __len__(self) -> int:
        return len(self.indices)

    def body(self, i: int) -> bytes:
        return self.parts[2 * i + 1]

    def payload(self) -> bytes:
        return b"\n".join(self.parts) + b"\n"

    def subset(self, positions: list[int]) -> _Chunk:
        sub = _Chunk()
        for i in positions:
            sub.append(self.parts[2 * i], self.parts[2 * i + 1], self.indices[i], self.labels[i])
        return sub


class BulkWriter:
    """Writes documents and dead letters through ``_bulk``. Safe to share within one event loop."""

    def __init__(self, store: Store, settings: BulkSettings | None = None, *,
                 on_result: Callable[[str, BulkResult], None] | None = None,
                 on_rejection: Callable[[int], None] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._store = store
        self._settings = settings or store.settings.bulk
        self._on_result = on_result
        self._on_rejection = on_rejection
        self._clock = clock
        self._index_cache: dict[str, tuple[str, bytes]] = {}

    # -- public -----------------------------------------------------------------------------

    async def write(self, items: Iterable[Document | DeadLetter] | AsyncIterable[Document | DeadLetter],
                    *, label: str = "default", refresh: bool = False,
                    check_time: bool = False) -> BulkResult:
        """Index ``items`` (documents and dead letters, in any mix); return the counts.

        ``check_time``: the items come from a sender (syslog, files, APIs, git) whose claimed
        times must not choose the index (``store/timewindow.py``).

        Memory stays bounded: at most ``max_in_flight`` chunks are built ahead of the responses.
        """
        result = BulkResult()
        semaphore = asyncio.Semaphore(self._settings.max_in_flight)
        tasks: set[asyncio.Task[BulkResult]] = set()
        failure: BaseException | None = None
        screen = self._screen() if check_time else None
        if screen is not None:
            items = screen.asynchronous(items) if isinstance(items, AsyncIterable) \
                else screen.sync(items)

        async def send(chunk: _Chunk) -> BulkResult:
            try:
                return await self._send_chunk(chunk)
            finally:
                semaphore.release()

        def collect(done: set[asyncio.Task[BulkResult]]) -> None:
            nonlocal failure
            for task in done:
                tasks.discard(task)
                if task.exception() is not None:
                    failure = failure or task.exception()
                else:
                    result.add(task.result())

        async for chunk in self._chunks(items):
            await semaphore.acquire()
            collect({t for t in tasks if t.done()})
            if failure is not None:
                semaphore.release()
                break
            tasks.add(asyncio.ensure_future(send(chunk)))
        if tasks:
            done, _ = await asyncio.wait(tasks)
            collect(done)
        if screen is not None:
            result.time_out_of_window += screen.refiled
        if failure is not None:
            raise failure
        if refresh:
            await self.refresh()
        if self._on_result is not None:
            self._on_result(label, result)
        return result

    async def refresh(self, kinds: Iterable[str] = ("events", "changes", "findings", "compliance",
                                                    "deadletter", "inventory", "reports")) -> None:
        names = self._store.names
        try:
            await self._store.es.indices.refresh(index=",".join(names.read(k) for k in kinds),
                                                 ignore_unavailable=True, allow_no_indices=True)
        except Exception as exc:
            raise translate_error(exc, "refresh") from exc

    # -- internals --------------------------------------------------------------------------

    def _screen(self) -> Screen | None:
        settings = getattr(self._store.settings, "event_time", None)
        if settings is None or not settings.enabled:
            return None
        return Screen(TimeWindow.around(self._clock(), settings.days()), self._store.names.write)

    def _item(self, entry: Document | DeadLetter) -> tuple[bytes, bytes, str, str]:
        """(action, body, index, label) for any entry; the general, slower path."""
        if isinstance(entry, DeadLetter):
            doc_id, source = dead_letter_source(entry, self._clock())
            index = self._store.names.write("deadletter", source["@timestamp"])
            return (_action(index, doc_id), orjson.dumps(source), index, entry.source)
        index = entry.index or self._store.names.write(entry.kind, entry.source.get("@timestamp"))
        if entry.kind in INGEST_STAMPED and type(entry.source) is not EncodedSource:
            stamp_ingested(entry.source, _now_iso(self._clock))  # type: ignore[arg-type]  # a dict source here
        try:
            body = source_json(entry.source)
        except (TypeError, orjson.JSONEncodeError) as exc:
            raw = repr(entry.source).encode("utf-8", "replace")
            return self._item(DeadLetter(entry.kind, raw, f"not serializable: {exc}",
                                         stage="serialize", target_index=index))
        return (_action(index, entry.id), body, index, entry.kind)

    async def _chunks(self, items: Iterable[Document | DeadLetter] |
                      AsyncIterable[Document | DeadLetter]) -> AsyncIterator[_Chunk]:
        """Yield chunks. The hot path (a Document with a UTC ``...Z`` timestamp) is inlined:
        at tens of thousands of documents per second every attribute lookup shows."""
        limit_docs, limit_bytes = self._settings.chunk_docs, self._settings.chunk_bytes
        dumps, option = orjson.dumps, orjson.OPT_NON_STR_KEYS
        cache, general, names = self._index_cache, self._item, self._store.names
        source = items.__aiter__() if isinstance(items, AsyncIterable) else None
        iterator = iter(items) if source is None else None  # type: ignore[arg-type]  # exactly one of source and iterator is set
        chunk = _Chunk()
        parts, indices, labels = chunk.parts, chunk.indices, chunk.labels
        size = count = 0
        ingested = _now_iso(self._clock)  # the write time, renewed with every chunk
        while True:
            try:
                entry = await source.__anext__() if source is not None \
                    else next(iterator)  # type: ignore[arg-type]  # exactly one of source and iterator is set
            except (StopIteration, StopAsyncIteration):
                break
            count += 1
            if type(entry) is Document:
                document = entry.source
                encoded = type(document) is EncodedSource
                timestamp = document.timestamp if encoded else document.get("@timestamp")  # type: ignore[union-attr]  # a Document here: DeadLetter has no timestamp
            else:
                timestamp = None
            if type(timestamp) is str and timestamp[-1:] == "Z" and entry.index is None:  # type: ignore[union-attr]  # a Document here: DeadLetter has no timestamp
                kind = entry.kind  # type: ignore[union-attr]  # a Document here: DeadLetter has no timestamp
                key = kind + timestamp[:7]
                cached = cache.get(key)
                if cached is None:
                    index = names.write(kind, timestamp)
                    cached = cache[key] = (index, b'{"create":{"_index":' + dumps(index) + b',"_id":')
                if not encoded and kind in INGEST_STAMPED:
                    stamp_ingested(document, ingested)  # type: ignore[arg-type]  # a dict source here
                try:
                    body = document.json if encoded else dumps(document, option=option)  # type: ignore[union-attr]  # a Document here: DeadLetter has no timestamp
                    action = cached[1] + dumps(entry.id) + b"}}"  # type: ignore[union-attr]  # a Document here: DeadLetter has no timestamp
                except (TypeError, orjson.JSONEncodeError):
                    action, body, index, kind = general(entry)
                else:
                    index = cached[0]
            else:
                action, body, index, kind = general(entry)
            parts.append(action)
            parts.append(body)
            indices.append(index)
            labels.append(kind)
            size += len(body)
            if len(indices) >= limit_docs or size >= limit_bytes:
                yield chunk
                ingested = _now_iso(self._clock)
                chunk = _Chunk()
                parts, indices, labels = chunk.parts, chunk.indices, chunk.labels
                size = 0
            elif not count & 511:
                await asyncio.sleep(0)  # let finished responses be read while we serialize
        if indices:
            yield chunk

    async def _post(self, chunk: _Chunk) -> dict[str, Any]:
        """One ``_bulk`` request, retried as a whole on connection errors, 429 and 5xx."""
        body = chunk.payload()
        attempt = 0
        while True:
            try:
                response = await self._store.es.bulk(
                    operations=body,  # type: ignore[arg-type]  # NDJSON bytes: sent as they are
                    filter_path=_FILTER)
                return dict(response.body)
            except Exception as exc:
                error = translate_error(exc, "bulk")
                if not isinstance(error, StoreUnavailable):
                    raise error from exc
                if getattr(getattr(exc, "meta", None), "status", None) == 429 and self._on_rejection:
                    self._on_rejection(len(chunk))
                if attempt >= self._settings.max_retries:
                    raise error from exc
                await self._backoff(attempt, str(error))
                attempt += 1

    async def _backoff(self, attempt: int, why: str) -> None:
        delay = min(self._settings.max_backoff_seconds,
                    self._settings.initial_backoff_seconds * (2 ** attempt))
        delay *= 0.5 + random.random() / 2
        log.warning("bulk retry in %.1fs (attempt %d): %s", delay, attempt + 1, why)
        await asyncio.sleep(delay)

    async def _send_chunk(self, chunk: _Chunk) -> BulkResult:
        result = BulkResult()
        pending = chunk
        attempt = 0
        deadletter_prefix = self._store.names.prefix + "-deadletter-"
        while len(pending):
            response = await self._post(pending)
            result.requests += 1
            if not response.get("errors"):
                letters_written = sum(1 for index in pending.indices
                                      if index.startswith(deadletter_prefix))
                result.indexed += len(pending) - letters_written
                result.dead_lettered += letters_written
                return result
            retry: list[int] = []
            letters: list[DeadLetter] = []
            for i, outcome in enumerate(response.get("items", [])[:len(pending)]):
                status, error = _status(outcome)
                if status in (200, 201):
                    if pending.indices[i].startswith(deadletter_prefix):
                        result.dead_lettered += 1
                    else:
                        result.indexed += 1
                elif status == 409:  # a dead letter stored by an earlier run is still one
                    if pending.indices[i].startswith(deadletter_prefix):
                        result.dead_lettered += 1
                    else:
                        result.duplicates += 1
                elif status in _RETRY_STATUSES:
                    retry.append(i)
                elif pending.indices[i].startswith(deadletter_prefix):
                    raise StoreError(f"dead-letter index refused a record ({status}): {error}")
                else:
                    reason = f"elasticsearch rejected document ({status}): {error}"
                    letters.append(DeadLetter(pending.labels[i], pending.body(i), reason,
                                              stage="index", target_index=pending.indices[i]))
            if letters:
                sub_chunk = _Chunk()
                for letter in letters:
                    sub_chunk.append(*self._item(letter))
                sub = await self._send_chunk(sub_chunk)
                result.dead_lettered += sub.dead_lettered
                result.requests += sub.requests
                for letter in letters:
                    key = letter.reason.split(":", 2)[1].strip() if ":" in letter.reason \
                        else letter.reason
                    result.dead_letter_reasons[key] = result.dead_letter_reasons.get(key, 0) + 1
            if retry:
                if self._on_rejection:
                    self._on_rejection(len(retry))
                if attempt >= self._settings.max_retries:
                    raise StoreUnavailable(f"bulk: {len(retry)} documents still rejected after "
                                           f"{attempt} retries")
                result.retried += len(retry)
                await self._backoff(attempt, f"{len(retry)} items rejected with 429/5xx")
                attempt += 1
            pending = pending.subset(retry)
        return result


def _action(index: str, doc_id: str) -> bytes:
    return orjson.dumps({"create": {"_index": index, "_id": doc_id}})


def _status(outcome: dict[str, Any]) -> tuple[int, str]:
    op: dict[str, Any] = next(iter(outcome.values()), {})
    error = op.get("error") or {}
    text = f"{error.get('type', '')}: {error.get('reason', '')}" if error else ""
    return int(op.get("status", 0)), text
