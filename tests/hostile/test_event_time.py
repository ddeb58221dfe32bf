"""A sender must not choose the index: 1,200 lines claiming times from 1970 to 9999, sent over
a real socket to the receiver, may not create 1,200 monthly indices in the real Elasticsearch."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.model import Document
from monitor.settings import SpoolSettings, SyslogSource
from monitor.sources.syslog import SyslogReceiver
from monitor.store import BulkWriter
from monitor.store.timewindow import TAG, TimeWindow


def _hostile(count: int) -> list[bytes]:
    lines = []
    for i in range(count):
        year, month = 1970 + (i * 7) % 8030, 1 + i % 12
        lines.append((f'<134>1 {year:04d}-{month:02d}-01T00:00:00Z gw CheckPoint 1930 - '
                      f'[action:"Accept"; loguid:"{{0x1,0x{i:x},0x0}}"; origin:"10.0.0.1"; '
                      f'src:"10.1.1.{i % 250}"; dst:"10.2.2.2"]').encode())
    return lines


async def _indices(store: Any) -> set[str]:
    found = await store.es.indices.get(index=f"{store.names.prefix}-events-*",
                                       ignore_unavailable=True, allow_no_indices=True)
    return set(found)


async def test_1200_far_times_over_tcp_create_no_new_index(store: Any, tmp_path: Path) -> None:
    lines = _hostile(1200)
    assert len({line[7:14] for line in lines}) == 1200  # 1,200 distinct claimed months
    cfg = SyslogSource(enabled=True, udp=None, tcp="127.0.0.1:0", flush_interval_seconds=0.2,
                       spool=SpoolSettings(dir=tmp_path / "spool"))
    receiver = SyslogReceiver(cfg, BulkWriter(store), store=store)
    before = await _indices(store)
    await receiver.start()
    try:
        _, writer = await asyncio.open_connection(*receiver.addresses["tcp"])
        writer.write(b"".join(line + b"\n" for line in lines))
        await writer.drain()
        writer.close()
        deadline = asyncio.get_running_loop().time() + 60
        while receiver.counters.indexed + receiver.counters.duplicates < 1200:
            assert asyncio.get_running_loop().time() < deadline, receiver.counters
            await asyncio.sleep(0.1)
    finally:
        await receiver.stop()
    after = await _indices(store)
    now = datetime.now(UTC)
    assert after - before <= {store.names.write("events", now)}, sorted(after - before)[:5]
    assert receiver.counters.time_out_of_window == 1200
    await store.es.indices.refresh(index=store.names.read("events"))
    found = await store.es.search(index=store.names.read("events"), size=3,
                                  query={"term": {"tags": TAG}}, sort=[{"@timestamp": "desc"}])
    assert found["hits"]["total"]["value"] == 1200
    assert found["hits"]["hits"][0]["_source"]["@timestamp"].startswith("99")  # claim kept


def test_window_bounds_and_forms() -> None:
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    window = TimeWindow.around(now, {"events": (30, 1)})
    ok = ["2026-12-02T12:00:00Z", "2026-11-03T00:00:00.123Z", "2026-12-03T11:00:00+00:00",
          "2026-12-03T13:00:00+02:00"]
    bad = ["2026-10-31T23:59:59Z", "2026-12-03T12:00:01Z", "1970-01-01T00:00:00Z",
           "9999-12-31T23:59:59Z", "garbage", "", None, 17, "2026-12-02", "+12026-12-02T00:00:00Z",
           "2026-12-04T01:00:00+02:00"]
    assert all(window.plausible("events", t) for t in ok)
    assert not any(window.plausible("events", t) for t in bad)
    assert window.plausible("findings", "1970-01-01T00:00:00Z")  # kind not checked
    doc = window.refile(Document("events", "x", {"@timestamp": "1970-01-01T00:00:00Z",
                                                 "tags": ["a"]}), "p-events-2026.12")
    assert doc.index == "p-events-2026.12" and doc.source["tags"] == ["a", TAG]
    assert doc.source["@timestamp"] == "1970-01-01T00:00:00Z"
    later = TimeWindow.around(now + timedelta(days=400), {"events": (30, 1)})
    assert not later.plausible("events", "2026-12-02T12:00:00Z")
