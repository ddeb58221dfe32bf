"""Log Exporter receiver over real sockets (UDP, TCP both framings, mutual TLS) into the real
Elasticsearch, and an Elasticsearch outage in the middle of a 50k-message stream."""
from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from monitor.settings import (
    BulkSettings,
    ElasticsearchSettings,
    SpoolSettings,
    SyslogSource,
    SyslogTls,
)
from monitor.simulate import SimConfig, generate
from monitor.sources.syslog import SyslogReceiver
from monitor.store import BulkWriter, open_store

from .certs import make_pki
from .tcp_proxy import CuttableProxy


def _cfg(tmp_path: Path, **extra: Any) -> SyslogSource:
    values: dict[str, Any] = {"enabled": True, "udp": "127.0.0.1:0", "tcp": "127.0.0.1:0",
                              "flush_interval_seconds": 0.2,
                              "spool": SpoolSettings(dir=tmp_path / "spool", max_bytes=200 << 20,
                                                     fsync_every_records=2000), **extra}
    return SyslogSource(**values)


def _lines(count: int, seed: int = 7) -> list[bytes]:
    return [line.encode() for _, line in generate(SimConfig(count=count, seed=seed))]


async def _count(store: Any) -> int:
    await store.es.indices.refresh(index=store.names.read("events"), ignore_unavailable=True)
    body = await store.es.count(index=store.names.read("events"), ignore_unavailable=True,
                                allow_no_indices=True)
    return int(body["count"])


async def _until(predicate: Any, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def _tcp_send(address: tuple[str, int], data: bytes, context: ssl.SSLContext | None = None
                    ) -> None:
    _, writer = await asyncio.open_connection(*address, ssl=context,
                                              server_hostname="localhost" if context else None)
    writer.write(data)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def test_udp_and_tcp_both_framings(store: Any, tmp_path: Path) -> None:
    receiver = SyslogReceiver(_cfg(tmp_path), BulkWriter(store), store=store)
    await receiver.start()
    try:
        lines = _lines(300)
        udp, newline, octet = lines[:100], lines[100:200], lines[200:]
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for line in udp:
            sock.sendto(line, receiver.addresses["udp"])
            await asyncio.sleep(0)  # let the loop read: UDP has no backpressure
        sock.close()
        await _tcp_send(receiver.addresses["tcp"], b"".join(line + b"\n" for line in newline))
        await _tcp_send(receiver.addresses["tcp"],
                        b"".join(str(len(line)).encode() + b" " + line for line in octet))
        await _until(lambda: receiver.counters.indexed >= 300, 30)
    finally:
        await receiver.stop()
    assert await _count(store) == 300
    assert receiver.counters.received == 300 and receiver.counters.dead_lettered == 0


async def test_mutual_tls_and_allow_list(store: Any, tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    tls = SyslogTls(listen="127.0.0.1:0", cert_file=pki["server_cert"],
                    key_file=pki["server_key"], client_ca_file=pki["ca"])
    receiver = SyslogReceiver(_cfg(tmp_path, tls=tls, udp=None), BulkWriter(store), store=store)
    await receiver.start()
    try:
        lines = _lines(50, seed=3)
        client = ssl.create_default_context(cafile=str(pki["ca"]))
        client.load_cert_chain(str(pki["client_cert"]), str(pki["client_key"]))
        await _tcp_send(receiver.addresses["tls"], b"".join(line + b"\n" for line in lines),
                        client)
        # no client certificate: the server refuses the handshake (with TLS 1.3 the client
        # only learns it on its next read), so nothing it sent is read
        anonymous = ssl.create_default_context(cafile=str(pki["ca"]))
        try:
            await _tcp_send(receiver.addresses["tls"],
                            b"".join(line + b"\n" for line in _lines(5, 9)), anonymous)
        except (ssl.SSLError, ConnectionError, OSError):
            pass
        await _until(lambda: receiver.counters.indexed >= 50, 30)
        await asyncio.sleep(0.5)
    finally:
        await receiver.stop()
    assert receiver.counters.received == 50
    assert await _count(store) == 50


async def test_sender_outside_allow_list_is_refused(store: Any, tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, allowed_senders=["10.255.0.0/16"])
    receiver = SyslogReceiver(cfg, BulkWriter(store), store=store)
    await receiver.start()
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.sendto(_lines(1)[0], receiver.addresses["udp"])
        sock.close()
        await _tcp_send(receiver.addresses["tcp"], _lines(1)[0] + b"\n")
        await _until(lambda: receiver.counters.rejected_senders >= 2, 10)
    finally:
        await receiver.stop()
    assert receiver.counters.received == 0


@pytest.mark.slow
async def test_elasticsearch_outage_during_50k_stream(store: Any, tmp_path: Path,
                                                      es_url: str) -> None:
    """ES becomes unreachable mid-stream (connections cut, in-flight bulks lost) and comes back:
    exactly the 50k messages are indexed, once."""
    target = urlsplit(es_url)
    proxy = CuttableProxy(target.hostname or "127.0.0.1", target.port or 9200)
    await proxy.open()
    fast = BulkSettings(max_retries=1, initial_backoff_seconds=0.05, max_backoff_seconds=0.1)
    proxied = open_store(ElasticsearchSettings(hosts=[proxy.url], bulk=fast,
                                               request_timeout_seconds=10),
                         prefix=store.names.prefix)
    receiver = SyslogReceiver(_cfg(tmp_path, udp=None), BulkWriter(proxied), store=proxied,
                              probe_interval=0.3)
    await receiver.start()
    lines = _lines(50_000, seed=11)
    try:
        _, writer = await asyncio.open_connection(*receiver.addresses["tcp"])

        async def send(chunk: list[bytes]) -> None:
            for start in range(0, len(chunk), 500):
                writer.write(b"".join(line + b"\n" for line in chunk[start:start + 500]))
                await writer.drain()

        await send(lines[:15_000])
        await _until(lambda: receiver.counters.indexed > 0, 60)
        await proxy.cut()                                     # Elasticsearch "goes down"
        await send(lines[15_000:35_000])
        await _until(lambda: receiver.counters.spooled > 0, 60)
        await asyncio.sleep(1.0)
        assert receiver.counters.es_unavailable >= 1
        await proxy.open()                                    # ... and comes back
        await send(lines[35_000:])
        writer.close()
        await writer.wait_closed()
        await _until(lambda: receiver.counters.received == 50_000, 60)
        await _until(lambda: receiver.spool.empty() and receiver.queue.empty()
                     and receiver.counters.indexed + receiver.counters.duplicates >= 50_000, 120)
    finally:
        await receiver.stop()
        await proxied.close()
        await proxy.cut()
    print("outage counters:", receiver.counters.as_dict())
    assert receiver.counters.replayed > 0
    assert receiver.counters.dropped_spool_full == 0
    assert await _count(store) == 50_000
    distinct = await store.es.search(index=store.names.read("events"), size=0, aggs={
        "ids": {"cardinality": {"field": "event.id", "precision_threshold": 40000}}})
    assert distinct["aggregations"]["ids"]["value"] >= 49_500  # HLL estimate; the count is exact


async def test_stop_keeps_everything_already_read(store: Any, tmp_path: Path) -> None:
    """Stopping while a sender is connected and the queue is full loses nothing read: what
    cannot be indexed in time is in the spool, and the next receiver replays it."""
    cfg = _cfg(tmp_path, udp=None, queue_size=100)
    receiver = SyslogReceiver(cfg, BulkWriter(store), store=store)
    await receiver.start()
    lines = _lines(1500, seed=21)
    _, writer = await asyncio.open_connection(*receiver.addresses["tcp"])
    writer.write(b"".join(line + b"\n" for line in lines) + b"<134>1 2020-03-29T13:19:22Z")
    await writer.drain()
    await _until(lambda: receiver.counters.received >= 500, 60)
    await receiver.stop()
    writer.close()
    read = receiver.counters.received
    print("stop counters:", receiver.counters.as_dict())
    assert receiver.counters.indexed + receiver.counters.spooled == read
    second = SyslogReceiver(cfg, BulkWriter(store), store=store, probe_interval=0.1)
    await second.start()
    await _until(lambda: second.spool.empty(), 90)
    await second.stop()
    assert second.counters.replayed == receiver.counters.spooled
    # the 1500 lines are valid events; the unterminated tail, if it was read, is a dead letter
    assert await _count(store) == min(read, 1500)


class _Recording:
    """Stands in for the bulk writer: keeps what it was given, and how."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.calls: list[tuple[str, bool]] = []

    async def write(self, items: Any, *, label: str, check_time: bool = False) -> Any:
        from monitor.store import BulkResult
        self.calls.append((label, check_time))
        before = len(self.items)
        async for item in items:
            self.items.append(item)
        return BulkResult(indexed=len(self.items) - before)


async def test_the_receiver_exposes_the_pull_protocol_and_one_normalize(tmp_path: Path) -> None:
    """``lines.fetch(None)`` takes the queue's next batch (no cursor); live batches and spool
    replays both go through ``lines.normalize``, written under the source's label."""
    from datetime import UTC, datetime

    from monitor.model import RawRecord
    from monitor.normalize import normalize_checkpoint

    writer = _Recording()
    receiver = SyslogReceiver(_cfg(tmp_path), writer)  # type: ignore[arg-type]  # a recording test double for the writer
    lines = _lines(6, seed=3)
    for line in lines[:3]:
        receiver.offer_nowait(line)
    batch = await receiver.lines.fetch(None)
    assert [r.payload for r in batch.records] == lines[:3] and batch.next_cursor is None
    assert receiver.queue.empty() and receiver._queued_bytes == 0
    record = RawRecord("checkpoint:syslog", lines[0], datetime.now(UTC))
    assert list(receiver.lines.normalize(record)) == [normalize_checkpoint(record)]
    seen: list[bytes] = []
    pure = receiver.lines.normalize
    receiver.lines.normalize = lambda r: seen.append(r.payload) or pure(r)  # type: ignore[method-assign]  # observe the one path
    assert await receiver._write(list(batch.records))
    receiver._to_spool([receiver._record(line) for line in lines[3:]])
    assert await receiver._replay(probe=False)
    receiver.spool.close()
    assert seen == lines and len(writer.items) == 6 and receiver.counters.replayed == 3
    assert writer.calls == [("checkpoint-syslog", True)] * 2
