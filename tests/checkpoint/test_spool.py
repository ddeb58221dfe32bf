"""Disk spool: order, size bound, fsync batching, restart and torn frames."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from monitor.model import RawRecord
from monitor.settings import SpoolSettings
from monitor.sources.spool import DiskSpool

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _records(n: int, start: int = 0) -> list[RawRecord]:
    return [RawRecord("src", f"line {i}".encode(), NOW) for i in range(start, start + n)]


def test_ordered_replay_across_segments_and_restart(tmp_path: Path) -> None:
    settings = SpoolSettings(dir=tmp_path, max_bytes=1 << 20, fsync_every_records=7)
    spool = DiskSpool(settings, segment_bytes=1024)
    assert spool.append(_records(200)) == 0
    spool.close()
    reopened = DiskSpool(settings, segment_bytes=1024)  # a restart: spool survives
    assert not reopened.empty() and reopened.bytes == spool.bytes
    seen: list[bytes] = []
    batches = list(reopened.read_batches(batch_size=30))
    for batch in batches[:3]:
        seen += [r.payload for r in batch.records]
        reopened.commit(batch)
    # crash before the rest was committed: the next replay starts where the commits ended
    again = DiskSpool(settings, segment_bytes=1024)
    for batch in again.read_batches(batch_size=30):
        seen += [r.payload for r in batch.records]
        again.commit(batch)
    assert seen == [f"line {i}".encode() for i in range(200)]
    assert again.empty() and again.bytes == 0
    assert seen[0] == b"line 0" and batches[0].records[0].received_at == NOW


def test_size_bound_refuses_and_counts(tmp_path: Path) -> None:
    spool = DiskSpool(SpoolSettings(dir=tmp_path, max_bytes=1024, fsync_every_records=1))
    refused = spool.append(_records(100))
    assert 0 < refused < 100 and spool.records_refused == refused
    assert spool.bytes <= 1024
    kept = [r.payload for b in spool.read_batches() for r in b.records]
    assert kept == [f"line {i}".encode() for i in range(100 - refused)]


def test_torn_tail_is_skipped(tmp_path: Path) -> None:
    settings = SpoolSettings(dir=tmp_path, max_bytes=1 << 20)
    spool = DiskSpool(settings)
    spool.append(_records(10))
    spool.close()
    segment = min((tmp_path / "syslog").glob("*.seg"))
    segment.write_bytes(segment.read_bytes()[:-3])  # crash in the middle of the last frame
    replay = [r.payload for b in DiskSpool(settings).read_batches() for r in b.records]
    assert replay == [f"line {i}".encode() for i in range(9)]
