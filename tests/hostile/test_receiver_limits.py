"""The receiver under hostile senders, over real sockets: idle connections are closed, the
connection caps hold (global and per sender), the allow-list is checked before any TLS
handshake, refusals are counted but logged at most once per 10 s, the queue is bounded in
bytes, and the key/value tokenizer is linear on its worst case."""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from checkpoint.certs import make_pki

from monitor.model import DeadLetter, RawRecord
from monitor.normalize import normalize_checkpoint
from monitor.normalize.checkpoint_kv import parse_cp_body, parse_sd_fields
from monitor.settings import SpoolSettings, SyslogSource, SyslogTls
from monitor.sources.syslog import SyslogReceiver
from monitor.store.writer import BulkResult


def _cfg(tmp_path: Path, **extra: Any) -> SyslogSource:
    values: dict[str, Any] = {"enabled": True, "udp": None, "tcp": "127.0.0.1:0",
                              "flush_interval_seconds": 0.2,
                              "allowed_senders": ["127.0.0.0/8"],
                              "spool": SpoolSettings(dir=tmp_path / "spool"), **extra}
    return SyslogSource(**values)


async def _until(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def _connect(address: tuple[str, int], source: str = "127.0.0.1") -> Any:
    return await asyncio.open_connection(*address, local_addr=(source, 0))


async def _closed_by_server(reader: asyncio.StreamReader, within: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), within) == b""
    except ConnectionError:
        return True  # reset also means closed
    except TimeoutError:
        return False


class _Counting:
    """Stands in for the bulk writer: these limits are about sockets and memory, not storage
    (the end-to-end paths into the real Elasticsearch are covered next door)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gate.set()

    async def write(self, items: Any, **_: Any) -> BulkResult:
        await self.gate.wait()
        result = BulkResult()
        async for item in items:
            if isinstance(item, DeadLetter):
                result.dead_lettered += 1
            else:
                result.indexed += 1
        return result


async def test_idle_connections_are_closed(tmp_path: Path) -> None:
    receiver = SyslogReceiver(_cfg(tmp_path, idle_timeout_seconds=1.0),
                              _Counting())  # type: ignore[arg-type]  # a counting test double for the writer
    await receiver.start()
    try:
        conns = [await _connect(receiver.addresses["tcp"]) for _ in range(20)]
        started = time.monotonic()
        closed = await asyncio.gather(*(_closed_by_server(r, 30) for r, _ in conns))
        assert all(closed) and time.monotonic() - started < 30
        assert receiver.counters.idle_closed == 20
        assert receiver._open_total == 0
        for _, writer in conns:
            writer.close()
    finally:
        await receiver.stop()


async def test_connection_caps_global_and_per_sender(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, max_connections=15, max_connections_per_sender=10)
    receiver = SyslogReceiver(cfg, _Counting())  # type: ignore[arg-type]  # a counting test double for the writer
    await receiver.start()
    try:
        address = receiver.addresses["tcp"]
        first = [await _connect(address, "127.0.0.1") for _ in range(12)]
        await _until(lambda: receiver._open_total + receiver.counters.refused_connections >= 12)
        assert receiver.counters.refused_connections == 2  # per sender: 10
        second = [await _connect(address, "127.0.0.2") for _ in range(10)]
        await _until(lambda: receiver._open_total + receiver.counters.refused_connections >= 22)
        assert receiver._open_total == 15 and receiver.counters.refused_connections == 7
        # the refused ones are closed at once, the admitted ones stay open
        closed = await asyncio.gather(*(_closed_by_server(r, 2) for r, _ in first + second))
        assert sum(closed) == 7
        for _, writer in first + second:
            writer.close()
        await _until(lambda: receiver._open_total == 0)
        again = await _connect(address, "127.0.0.1")  # slots come back
        again[1].write(b"x\n")
        await again[1].drain()
        await _until(lambda: receiver.counters.received == 1)
        again[1].close()
    finally:
        await receiver.stop()


async def test_allow_list_before_tls_handshake_and_refusal_logs_throttled(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pki = make_pki(tmp_path)
    tls = SyslogTls(listen="127.0.0.1:0", cert_file=pki["server_cert"],
                    key_file=pki["server_key"])
    cfg = _cfg(tmp_path, tcp=None, tls=tls, allowed_senders=["10.255.0.0/16"])
    receiver = SyslogReceiver(cfg, _Counting())  # type: ignore[arg-type]  # a counting test double for the writer
    await receiver.start()
    caplog.set_level(logging.WARNING, logger="monitor.sources.syslog")
    try:
        # a refused peer is closed without a handshake: it never even has to send a ClientHello
        reader, writer = await _connect(receiver.addresses["tls"])
        assert await _closed_by_server(reader, 5)
        writer.close()
        for _ in range(300):
            _, other = await _connect(receiver.addresses["tls"])
            other.close()
        await _until(lambda: receiver.counters.rejected_senders == 301)
    finally:
        await receiver.stop()
    assert receiver.counters.tls_handshake_failed == 0
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert 1 <= len(refusals) <= 2, [r.getMessage() for r in refusals]


async def test_queue_is_bounded_in_bytes(tmp_path: Path) -> None:
    bound = 2 * 1024 * 1024
    cfg = _cfg(tmp_path, queue_max_bytes=bound, max_message_bytes=65536)
    writer = _Counting()
    writer.gate.clear()  # the writer waits: the queue must fill and hold
    receiver = SyslogReceiver(cfg, writer, batch_size=200)  # type: ignore[arg-type]  # a counting test double for the writer
    await receiver.start()
    line = b'<134>1 2026-12-01T00:00:00Z gw CheckPoint 1 - [' + b"k" * 60_000 + b"]\n"
    peak = 0

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, receiver._queued_bytes)
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    try:
        _, conn = await _connect(receiver.addresses["tcp"])
        conn.write(line * 1000)  # 60 MB; the receiver must push back, not buffer it all
        sending = asyncio.create_task(conn.drain())
        await asyncio.sleep(2)
        assert peak <= bound + 65536, peak
        assert receiver.counters.received < 200  # backpressure, not a 60 MB queue
        writer.gate.set()
        await asyncio.wait_for(sending, 120)
        conn.close()
        await _until(lambda: receiver.counters.dead_lettered + receiver.counters.indexed >= 1000,
                     120)
    finally:
        sampler.cancel()
        await receiver.stop()
    assert peak <= bound + 65536, peak


def _best_ms(call: Any, runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def test_tokenizer_is_linear_on_key_characters_without_colon() -> None:
    body = "a" * (256 * 1024)
    assert _best_ms(lambda: parse_cp_body(body)) <= 20  # was 1,200-1,600 ms
    assert _best_ms(lambda: parse_sd_fields(body)) <= 20  # was 650 ms
    line = ("<134>1 2026-12-01T00:00:00Z gw CheckPoint 1 - [" + "a" * (256 * 1024 - 64)
            + "]").encode()
    now = datetime.now(UTC)
    # the whole line (decode, envelope, copies of 256 KB): ~10 ms here; margin for a busy box
    assert _best_ms(lambda: normalize_checkpoint(RawRecord("s", line, now))) <= 50
    # with a pair at the end the regex must scan the whole run: linear, not 128 tries a byte
    assert _best_ms(lambda: parse_cp_body(body + 'k:"v"')) <= 200  # was 1,200 ms
    assert _best_ms(lambda: parse_sd_fields(body + 'k="v"')) <= 200
    # still reads what is readable around such a run
    fields, leftover = parse_cp_body('x:"1"; ' + "a" * 5000 + 'y:"2"')
    assert fields == {"x": "1"} and leftover.startswith("aaa")
