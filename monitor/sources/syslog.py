"""Log Exporter receiver: syslog over UDP, TCP (octet counting and newline framing) and TLS.

Entry point for the daemon::

    receiver = SyslogReceiver(cfg, writer, store=store)   # cfg: settings.SyslogSource
    await receiver.start()            # binds the configured listeners
    receiver.counters                 # ReceiverCounters, read by the metrics collector
    receiver.addresses                # {"udp": (host, port), "tcp": ..., "tls": ...}
    await receiver.stop()             # stop listening, flush the queue, persist the spool

Records from senders outside ``allowed_senders`` are refused (counted). Accepted records go to
a bounded queue (TCP readers wait when it is full: backpressure; a full queue on UDP sends the
datagram to the spool). A flusher normalizes batches and bulk-writes them; if Elasticsearch is
unreachable (``StoreUnavailable``) the batch goes to the disk spool and every later batch too,
in order, until a probe sees Elasticsearch again and the spool has been replayed. If the spool
is full the records are counted in ``dropped_spool_full`` and logged at ERROR: never silently.

On the pull protocol (``sources/base.py``) the receiver exposes its pure parts as
:class:`ReceivedLines` (``receiver.lines``): ``fetch(None)`` takes the next batch from the queue
(``next_cursor`` None: a queue keeps no cursor, a sender does not replay) and ``normalize`` is
the one normalize of a received line, for live batches and spool replays alike. The flusher
writes through the writer it was given rather than through ``monitor/ingest.py``, because:

* the receiver is in ``sources``, below ``ingest`` (``tests/unit/test_layering.py``): it cannot
  call the pipeline, and the daemon could drive ``lines`` with ``ingest_once`` only by taking
  the flusher (queue, spool, degraded mode, ``horizon()``) out of the receiver;
* the pipeline's guarantee is a cursor committed after the write, and a queue has none; here it
  is the spool: a batch whose write failed (``StoreUnavailable``, a stop out of time) is spooled
  raw and in order, a degraded receiver spools without trying, a replay commits a spool segment
  after its write. ``ingest_once`` raises without the batch and always tries the write;
* an empty take writes nothing (any write marks the source successful in the per-source
  metrics); ``ingest_once`` writes every batch;
* normalization runs in a worker thread ``NORMALIZE_SLICE`` records at a time (the loop keeps
  draining sockets, one slice of documents alive at once); ``ingest_once`` runs it inline;
* ``last_event_unixtime`` needs each record's outcome, which the pipeline does not report.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import StoreUnavailable
from ..model import DeadLetter, Document, RawRecord
from ..normalize import normalize_checkpoint
from ..settings import SyslogSource
from ..store.client import Store
from ..store.writer import BulkWriter
from .base import Batch
from .framing import Framer
from .spool import DiskSpool

__all__ = ["Framer", "ReceivedLines", "ReceiverCounters", "SyslogReceiver"]

log = logging.getLogger(__name__)

SOURCE = "checkpoint:syslog"
#: the index templates' refresh interval (1 s) plus a margin: a written record is searchable then
_REFRESH_SECONDS = 1.5
#: records normalized per worker-thread call; bounds the documents alive at once
NORMALIZE_SLICE = 500


@dataclass(slots=True)
class ReceiverCounters:
    received: int = 0
    indexed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    rejected_senders: int = 0
    oversized: int = 0
    spooled: int = 0
    replayed: int = 0
    dropped_spool_full: int = 0
    spool_bytes: int = 0
    es_unavailable: int = 0
    #: TCP/TLS connections refused by max_connections / max_connections_per_sender
    refused_connections: int = 0
    #: connections closed after idle_timeout_seconds without data
    idle_closed: int = 0
    #: TLS handshakes that failed or timed out (after the allow-list check)
    tls_handshake_failed: int = 0
    #: documents filed under the current month: their claimed time was implausible
    time_out_of_window: int = 0
    last_event_unixtime: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ReceivedLines:
    """The receiver's queue as a pull source (see the module docstring): ``fetch(None)`` takes
    the next batch (waiting at most ``flush_interval_seconds`` for its first record; it may be
    empty), ``normalize`` is pure."""

    #: labels the writes and their metrics
    name = "checkpoint-syslog"
    #: a sender's claimed event times must not choose the index (store/timewindow.py)
    check_time = True

    def __init__(self, take: Callable[[], Awaitable[list[RawRecord]]],
                 keep_original: bool = True) -> None:
        self._take = take
        self.keep_original = keep_original

    async def fetch(self, cursor: dict[str, Any] | None = None) -> Batch[RawRecord]:
        return Batch(await self._take())

    def normalize(self, record: RawRecord) -> tuple[Document | DeadLetter]:
        return (normalize_checkpoint(record, self.keep_original),)

    async def close(self) -> None:
        """Nothing to release: the receiver's ``stop()`` closes the listeners and the spool."""


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, receiver: SyslogReceiver) -> None:
        self.receiver = receiver

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        receiver = self.receiver
        if not receiver.allowed(addr[0]):
            receiver.refuse("sender not in allowed_senders", str(addr[0]))
            return
        for line in data.split(b"\n"):
            line = line.rstrip(b"\r")
            if line:
                receiver.offer_nowait(line[:receiver.cfg.max_message_bytes])


class SyslogReceiver:
    def __init__(self, cfg: SyslogSource, writer: BulkWriter, *, store: Store | None = None,
                 keep_original: bool = True, batch_size: int = 5000,
                 probe_interval: float = 2.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.cfg = cfg
        self.writer = writer
        self.store = store
        self.keep_original = keep_original
        self.batch_size = batch_size
        self.probe_interval = probe_interval
        self.clock = clock
        self.counters = ReceiverCounters()
        #: the pull protocol's pure parts: batches from the queue, the one normalize
        self.lines = ReceivedLines(self._take_batch, keep_original)
        self.spool = DiskSpool(cfg.spool)
        self.counters.spool_bytes = self.spool.bytes
        self.queue: asyncio.Queue[RawRecord] = asyncio.Queue(cfg.queue_size)
        self._networks = [ipaddress.ip_network(n, strict=False) for n in cfg.allowed_senders]
        self._allowed_cache: dict[str, bool] = {}
        self._servers: list[asyncio.base_events.Server] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._degraded = not self.spool.empty()  # leftover spool from a previous run
        #: ``horizon()``: arrival time of the oldest record taken but not yet searchable
        self._inflight: float | None = None
        self._spool_since: float | None = 0.0 if self._degraded else None
        self._visible: tuple[float, float] | None = None  # (oldest written, searchable after)
        #: UDP overflowed the queue: later datagrams go to the spool too (order) until the
        #: flusher, once the ``_ahead`` records queued before the overflow are written, drains it
        self._overflow = False
        self._ahead = 0
        self._last_error_log = 0.0
        self._open_total = 0
        self._open_by_peer: dict[str, int] = {}
        self._queued_bytes = 0
        self._room = asyncio.Event()
        self._tls: ssl.SSLContext | None = None
        self._refusals_unlogged = 0
        self._last_refusal_log = 0.0
        self.addresses: dict[str, tuple[str, int]] = {}

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.cfg.udp:
            host, port = _address(self.cfg.udp)
            transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(self),
                                                               local_addr=(host, port))
            sock = transport.get_extra_info("socket")
            if sock is not None:
                try:  # absorb bursts while a batch is normalized; the kernel caps the value
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
                except OSError:
                    pass
            self._udp = transport
            self.addresses["udp"] = transport.get_extra_info("sockname")[:2]
        if self.cfg.tcp:
            host, port = _address(self.cfg.tcp)
            server = await asyncio.start_server(self._handle_plain, host, port, limit=1 << 20)
            self._servers.append(server)
            self.addresses["tcp"] = server.sockets[0].getsockname()[:2]
        if self.cfg.tls:
            host, port = _address(self.cfg.tls.listen)
            # plain accept, then the allow-list and connection caps, then the handshake: a
            # refused peer never gets to spend our CPU on TLS
            self._tls = self._tls_context()
            server = await asyncio.start_server(self._handle_tls, host, port, limit=1 << 20)
            self._servers.append(server)
            self.addresses["tls"] = server.sockets[0].getsockname()[:2]
        self._flusher = asyncio.create_task(self._flush_loop(), name="syslog-flusher")
        log.info("syslog receiver listening on %s", self.addresses)

    def _tls_context(self) -> ssl.SSLContext:
        assert self.cfg.tls is not None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.cfg.tls.cert_file), str(self.cfg.tls.key_file))
        if self.cfg.tls.client_ca_file:
            context.load_verify_locations(str(self.cfg.tls.client_ca_file))
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    async def stop(self, timeout: float = 30.0) -> None:
        """Stop listening, write or spool everything received, fsync the spool."""
        self._stopping = True
        if self._udp is not None:
            self._udp.close()
        for server in self._servers:
            server.close()
        for task in list(self._connections):
            task.cancel()
        for server in self._servers:
            try:
                await asyncio.wait_for(server.wait_closed(), 5)
            except TimeoutError:
                pass
        if self._flusher is not None:
            try:
                await asyncio.wait_for(self._flusher, timeout)
            except TimeoutError:
                log.error("syslog receiver: flush did not finish in %.0fs; spooling the rest",
                          timeout)
        rest: list[RawRecord] = []
        while not self.queue.empty():
            rest.append(self.queue.get_nowait())
        if rest:
            self._to_spool(rest)
        self.spool.close()
        self.counters.spool_bytes = self.spool.bytes

    # -- intake -------------------------------------------------------------------------
    def allowed(self, host: str) -> bool:
        known = self._allowed_cache.get(host)
        if known is None:
            try:
                address = ipaddress.ip_address(host.split("%", 1)[0])
                if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                    address = address.ipv4_mapped
                known = any(address in net for net in self._networks)
            except ValueError:
                known = False
            if len(self._allowed_cache) < 10_000:
                self._allowed_cache[host] = known
        return known

    def _record(self, line: bytes) -> RawRecord:
        self.counters.received += 1
        return RawRecord(SOURCE, line, self.clock())

    def refuse(self, reason: str, peer: str) -> None:
        """Count a refused sender or connection; log at most one line per 10 s with the
        number refused since the last line (a flood of refusals must not flood the log)."""
        if reason.startswith("sender"):
            self.counters.rejected_senders += 1
        else:
            self.counters.refused_connections += 1
        self._refusals_unlogged += 1
        now = time.monotonic()
        if now - self._last_refusal_log >= 10:
            log.warning("syslog: refused %d record(s)/connection(s) since the last report; "
                        "latest from %s: %s", self._refusals_unlogged, peer, reason)
            self._refusals_unlogged = 0
            self._last_refusal_log = now

    def offer_nowait(self, line: bytes) -> None:
        """UDP intake (no backpressure): the queue, or the spool when the queue is full (in
        records or bytes) and until the spool is drained again, so records keep their order."""
        record = self._record(line)
        if not self._overflow:
            if self._queued_bytes + len(line) <= self.cfg.queue_max_bytes:
                try:
                    self.queue.put_nowait(record)
                    self._queued_bytes += len(line)
                    return
                except asyncio.QueueFull:
                    pass
            self._overflow = True
            self._ahead = self.queue.qsize()
        self._to_spool([record])

    async def _put(self, record: RawRecord) -> None:
        """TCP/TLS intake: wait (backpressure) while the queue is full in records or bytes."""
        size = len(record.payload)
        while self._queued_bytes and self._queued_bytes + size > self.cfg.queue_max_bytes:
            self._room.clear()
            await self._room.wait()
        await self.queue.put(record)
        self._queued_bytes += size

    async def _handle_plain(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        await self._serve(reader, writer, tls=False)

    async def _handle_tls(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        await self._serve(reader, writer, tls=True)

    def _admit(self, peer: str) -> str | None:
        """None if ``peer`` may open one more connection (counted), else the reason."""
        if not self.allowed(peer):
            return "sender not in allowed_senders"
        if self._open_total >= self.cfg.max_connections:
            return f"max_connections ({self.cfg.max_connections}) reached"
        if self._open_by_peer.get(peer, 0) >= self.cfg.max_connections_per_sender:
            return f"max_connections_per_sender ({self.cfg.max_connections_per_sender}) reached"
        self._open_total += 1
        self._open_by_peer[peer] = self._open_by_peer.get(peer, 0) + 1
        return None

    def _release(self, peer: str) -> None:
        self._open_total -= 1
        left = self._open_by_peer.get(peer, 1) - 1
        if left > 0:
            self._open_by_peer[peer] = left
        else:
            self._open_by_peer.pop(peer, None)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                     tls: bool) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        peer = str((writer.get_extra_info("peername") or ("?", 0))[0])
        refusal = self._admit(peer)
        try:
            if refusal is not None:
                self.refuse(refusal, peer)
                return
            if tls and self._tls is not None:
                try:
                    await writer.start_tls(
                        self._tls, ssl_handshake_timeout=self.cfg.tls_handshake_timeout_seconds)
                except (ssl.SSLError, ConnectionError, OSError, TimeoutError) as exc:
                    self.counters.tls_handshake_failed += 1
                    log.info("syslog: TLS handshake with %s failed: %s", peer, exc)
                    return
            await self._read_stream(reader, task)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
            log.info("syslog: connection from %s ended: %s", peer, exc)
        except asyncio.CancelledError:
            pass
        finally:
            if refusal is None:
                self._release(peer)
            if task is not None:
                self._connections.discard(task)
            writer.close()

    async def _read_stream(self, reader: asyncio.StreamReader,
                           task: asyncio.Task[Any] | None) -> None:
        """Frame and queue what one connection sends; close it after ``idle_timeout_seconds``
        of silence."""
        framer = Framer(self.cfg.max_message_bytes)
        pending: list[RawRecord] = []
        try:
            while True:
                try:
                    data = await asyncio.wait_for(reader.read(65536),
                                                  self.cfg.idle_timeout_seconds)
                except TimeoutError:
                    self.counters.idle_closed += 1
                    break
                if not data:
                    break
                before = framer.oversized
                pending = [self._record(message) for message in framer.feed(data)]
                self.counters.oversized += framer.oversized - before
                while pending:
                    await self._put(pending[0])  # not added if cancelled meanwhile
                    pending.pop(0)
        finally:
            # on shutdown (cancel) or a broken connection, keep what was already read
            rest = list(pending)
            tail = framer.rest()
            if tail:
                rest.append(self._record(tail))
            if rest:
                if task is not None and task.cancelling():
                    self._to_spool(rest)
                else:
                    for record in rest:
                        await self._put(record)

    # -- output -------------------------------------------------------------------------
    def horizon(self) -> float | None:
        """Arrival time (unix seconds) before which every record this receiver took in is
        indexed and searchable (one refresh after its bulk), or None when nothing is pending.

        The rules job reads no further (refresh-aware reads): a line held up by our own queue,
        bulk retries or the spool is judged once searchable instead of being passed over.
        """
        marks = [m for m in (self._inflight, self._spool_since) if m is not None]
        if self.queue.qsize():  # FIFO: the head is the oldest queued record
            marks.append(self.queue._queue[0].received_at.timestamp())  # type: ignore[attr-defined]  # peeks at asyncio.Queue internals for the oldest item
        if self._visible is not None and time.time() < self._visible[1]:
            marks.append(self._visible[0])
        return min(marks) if marks else None

    def _to_spool(self, records: list[RawRecord]) -> None:
        if self._spool_since is None and records:
            self._spool_since = records[0].received_at.timestamp()
        refused = self.spool.append(records)
        self.counters.spooled += len(records) - refused
        self.counters.spool_bytes = self.spool.bytes
        if refused:
            self.counters.dropped_spool_full += refused
            now = time.monotonic()
            if now - self._last_error_log > 10:
                self._last_error_log = now
                log.error("syslog: SPOOL FULL (%d bytes, limit %d): dropped %d records "
                          "(total %d); Elasticsearch has been unreachable too long",
                          self.spool.bytes, self.spool.max_bytes, refused,
                          self.counters.dropped_spool_full)

    async def _take_batch(self) -> list[RawRecord]:
        batch: list[RawRecord] = []
        try:
            first = await asyncio.wait_for(self.queue.get(), self.cfg.flush_interval_seconds)
        except TimeoutError:
            return batch
        batch.append(first)
        size = len(first.payload)
        #: a batch is bounded in bytes too (a quarter of the queue's byte bound)
        max_bytes = self.cfg.queue_max_bytes // 4
        deadline = time.monotonic() + self.cfg.flush_interval_seconds
        while len(batch) < self.batch_size and size < max_bytes:
            try:
                record = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                if time.monotonic() >= deadline or self._stopping:
                    break
                await asyncio.sleep(0.01)
                continue
            batch.append(record)
            size += len(record.payload)
        self._ahead = max(0, self._ahead - len(batch))
        self._queued_bytes = max(0, self._queued_bytes - size)
        self._room.set()
        return batch

    async def _flush_loop(self) -> None:
        last_probe = 0.0
        while True:
            if self._stopping and self.queue.empty():
                break
            batch = list((await self.lines.fetch(None)).records)
            if self._degraded:
                if batch:
                    self._to_spool(batch)
                if time.monotonic() - last_probe >= self.probe_interval or self._stopping:
                    last_probe = time.monotonic()
                    if await self._replay():
                        self._degraded = self._overflow = False
                        log.warning("syslog: Elasticsearch is back; spool replayed")
                    elif self._stopping:
                        break
                continue
            try:
                written = not batch or await self._write(batch)
            except asyncio.CancelledError:
                # stop() ran out of time mid-write: keep the batch (a replay of what was
                # already indexed only produces 409 duplicates)
                self._to_spool(batch)
                self.spool.flush()
                raise
            if not written:
                self._degraded = True
                self.counters.es_unavailable += 1
                self._to_spool(batch)
                self.spool.flush()
                log.error("syslog: Elasticsearch unreachable; spooling to %s", self.spool.dir)
            elif self._overflow and not self._ahead:
                await self._drain_overflow()
        self.spool.flush()

    def _normalize(self, batch: list[RawRecord]) -> tuple[list[Document | DeadLetter], float]:
        """A slice through the one normalize (``lines.normalize``); the arrival time of the
        newest record that became a document."""
        items: list[Document | DeadLetter] = []
        newest = 0.0
        normalize = self.lines.normalize
        for record in batch:
            for result in normalize(record):
                items.append(result)
                if isinstance(result, Document):
                    newest = max(newest, record.received_at.timestamp())
        return items, newest

    async def _write(self, batch: list[RawRecord]) -> bool:
        """Write a batch, keeping ``horizon()`` behind it until it is searchable."""
        self._inflight = batch[0].received_at.timestamp() if batch else None
        try:
            written = await self._write_batch(batch)
            if written and self._inflight is not None:
                self._visible = (self._inflight, time.time() + _REFRESH_SECONDS)
            return written
        finally:
            self._inflight = None

    async def _write_batch(self, batch: list[RawRecord]) -> bool:
        newest = 0.0

        async def documents() -> AsyncIterator[Document | DeadLetter]:
            # slices, not the whole batch: a normalized document weighs ~7.6 KB of Python
            # objects (5,000 of them ~36 MB), and the writer serializes each one as it arrives,
            # so only one slice is alive at a time and resident memory stays flat under load.
            # In a worker thread: CPU-bound, but the GIL switch interval lets the event loop
            # keep draining sockets (UDP has no backpressure) meanwhile.
            nonlocal newest
            for start in range(0, len(batch), NORMALIZE_SLICE):
                items, last = await asyncio.to_thread(
                    self._normalize, batch[start:start + NORMALIZE_SLICE])
                newest = max(newest, last)
                for item in items:
                    yield item
                del items

        try:
            result = await self.writer.write(documents(), label=self.lines.name,
                                             check_time=self.lines.check_time)
        except StoreUnavailable as exc:
            log.warning("syslog: bulk failed: %s", exc)
            return False
        self.counters.indexed += result.indexed
        self.counters.duplicates += result.duplicates
        self.counters.dead_lettered += result.dead_lettered
        self.counters.time_out_of_window += result.time_out_of_window
        if newest:
            self.counters.last_event_unixtime = max(self.counters.last_event_unixtime, newest)
        return True

    async def _drain_overflow(self) -> None:
        """The writer has capacity and everything queued before the overflow is written:
        replay the spool now (oldest first), not only after an outage."""
        if await self._replay(probe=False):
            self._overflow = False  # no await since the spool was seen empty
        else:
            self._degraded = True
            self.counters.es_unavailable += 1
            log.error("syslog: Elasticsearch unreachable; spooling to %s", self.spool.dir)

    async def _replay(self, probe: bool = True) -> bool:
        if probe and self.store is not None and not await self.store.ready():
            return False
        rounds = 0
        while not self.spool.empty():  # records spooled during the replay are replayed too
            rounds += 1
            for batch in self.spool.read_batches(self.batch_size):
                if batch.records and not await self._write(batch.records):
                    return False
                self.counters.replayed += len(batch.records)
                self.spool.commit(batch)
                self.counters.spool_bytes = self.spool.bytes
            if rounds > 1000:
                log.error("syslog: spool keeps growing during replay; will continue later")
                return False
        self._spool_since = None
        return True
