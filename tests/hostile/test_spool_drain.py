"""A UDP burst that overflows the queue while the writer is slow: the overflow went to the
spool and stayed there (1,497 of 2,000 records on disk 20 s after the writer was healthy).
Now the spool drains as soon as the writer has capacity: every record is indexed exactly once,
in the order received, in a bounded time after the burst."""
from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from monitor.settings import SpoolSettings, SyslogSource
from monitor.simulate import SimConfig, generate
from monitor.sources.syslog import SyslogReceiver
from monitor.store import BulkWriter


class SlowWriter(BulkWriter):
    """Healthy but slow for its first writes (a busy cluster); remembers what it was given."""

    def __init__(self, store: Any, slow_writes: int, delay: float) -> None:
        super().__init__(store)
        self.slow_writes = slow_writes
        self.delay = delay
        self.seen: list[bytes] = []

    async def write(self, items: Any, **kwargs: Any) -> Any:
        if self.slow_writes > 0:
            self.slow_writes -= 1
            await asyncio.sleep(self.delay)

        async def noted() -> Any:
            async for item in items:
                self.seen.append(item.source["event"]["original"].encode())
                yield item
        return await super().write(noted(), **kwargs)


async def test_udp_burst_overflow_is_indexed_once_in_order(store: Any, tmp_path: Path) -> None:
    lines = [line.encode() for _, line in generate(SimConfig(count=2000, seed=11))]
    cfg = SyslogSource(enabled=True, udp="127.0.0.1:0", tcp=None, queue_size=100,
                       flush_interval_seconds=0.2, spool=SpoolSettings(dir=tmp_path / "spool"))
    writer = SlowWriter(store, slow_writes=3, delay=1.5)
    receiver = SyslogReceiver(cfg, writer, store=store, batch_size=500)
    await receiver.start()
    loop = asyncio.get_running_loop()
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i, line in enumerate(lines):
            sock.sendto(line, receiver.addresses["udp"])
            # the loop reads as we go (the kernel's buffer is not what this test is about)
            await asyncio.sleep(0.005 if i % 100 == 99 else 0)
        sock.close()
        burst_end = loop.time()
        assert receiver.counters.spooled > 1000, receiver.counters  # the burst overflowed
        while receiver.counters.indexed < 2000 or not receiver.spool.empty():
            assert loop.time() - burst_end < 30, receiver.counters
            await asyncio.sleep(0.1)
        drained = loop.time() - burst_end
    finally:
        await receiver.stop()
    await store.es.indices.refresh(index=store.names.read("events"))
    count = (await store.es.count(index=store.names.read("events")))["count"]
    assert count == 2000 and receiver.counters.duplicates == 0
    assert receiver.counters.received == 2000 and receiver.counters.dropped_spool_full == 0
    assert writer.seen == lines  # oldest first, in order, each once
    assert drained < 30, drained
