"""Exported files on the ingest pipeline: bounded batches, each offset committed after its write."""
from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import pytest

from monitor.daemon.file_runs import ingest_files, scan_once
from monitor.errors import StoreUnavailable
from monitor.settings import FileSource
from monitor.simulate import SimConfig, generate
from monitor.sources import logfiles
from monitor.store import BulkResult, BulkWriter, StateStore


class FailingWriter(BulkWriter):
    """A real writer that counts its writes and fails the ``fail_at``-th (1-based)."""

    def __init__(self, store: Any, fail_at: int | None = None) -> None:
        super().__init__(store)
        self.writes, self.fail_at = 0, fail_at

    async def write(self, items: Any, **kwargs: Any) -> BulkResult:
        self.writes += 1
        if self.writes == self.fail_at:
            raise StoreUnavailable("the store went away")
        return await super().write(items, **kwargs)


def _lines(count: int) -> list[str]:
    return [line for _, line in generate(SimConfig(count=count, seed=9))]


async def test_a_big_file_is_read_in_batches_each_offset_after_its_write(
        store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logfiles, "BATCH_LINES", 7)
    lines = _lines(50)
    log = tmp_path / "fw.log"
    log.write_text("\n".join(lines) + "\n")
    cfg, state = FileSource(paths=[str(tmp_path / "*.log")]), StateStore(store)
    key = f"logfile:{os.path.abspath(log)}"
    with pytest.raises(StoreUnavailable):
        await scan_once(cfg, FailingWriter(store, fail_at=3), state)
    stored = (await state.get(key)).value
    assert stored["offset"] == sum(len(line) + 1 for line in lines[:14])  # two batches written
    assert stored["inode"] == log.stat().st_ino and stored["size"] == log.stat().st_size
    writer = FailingWriter(store)
    rest = await scan_once(cfg, writer, state)
    assert (rest.read, rest.indexed, rest.duplicates) == (36, 36, 0) and writer.writes == 6
    assert (await state.get(key)).value["offset"] == log.stat().st_size
    assert (await scan_once(cfg, writer, state)).read == 0


async def test_a_gzip_file_resumes_after_what_was_written(
        store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logfiles, "BATCH_LINES", 7)
    lines = _lines(30)
    packed = tmp_path / "fw.log.gz"
    packed.write_bytes(gzip.compress(("\n".join(lines)).encode()))  # last line unterminated
    cfg, state = FileSource(paths=[str(tmp_path / "*.gz")]), StateStore(store)
    key = f"logfile:{os.path.abspath(packed)}"
    with pytest.raises(StoreUnavailable):
        await scan_once(cfg, FailingWriter(store, fail_at=2), state)
    assert (await state.get(key)).value["unpacked"] == sum(len(line) + 1 for line in lines[:7])
    rest = await scan_once(cfg, FailingWriter(store), state)
    assert (rest.read, rest.indexed, rest.duplicates) == (23, 23, 0)
    assert (await state.get(key)).value == {"inode": packed.stat().st_ino,
                                            "offset": packed.stat().st_size,
                                            "size": packed.stat().st_size,
                                            "mtime": packed.stat().st_mtime}
    assert (await scan_once(cfg, FailingWriter(store), state)).read == 0  # unchanged: skipped
    packed.write_bytes(gzip.compress(("\n".join(lines[:12]) + "\n").encode()))
    again = await scan_once(cfg, FailingWriter(store), state)
    assert (again.read, again.duplicates) == (12, 12)  # changed: read whole again


async def test_the_one_shot_import_reads_every_line_in_batches(
        store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logfiles, "BATCH_LINES", 7)
    lines = _lines(20)
    log = tmp_path / "export.log"
    log.write_text("\n".join(lines[:10]) + "\n\n" + "not a check point line\n"
                   + "\n".join(lines[10:]))  # a blank line; the last line unterminated
    seen: list[tuple[int, int]] = []
    writer = FailingWriter(store)
    stats = await ingest_files([str(log)], writer, progress=lambda done, total: seen.append(
        (done, total)))
    assert (stats.read, stats.indexed, stats.dead_lettered, stats.parse_dead_letters) == \
        (21, 20, 1, 1)
    assert stats.bytes == log.stat().st_size  # a blank line not counted, a missing newline is
    # read in 4 batches (progress after each), written as one stream: nothing to commit between
    assert len(seen) == 4 and writer.writes == 1
    assert seen[-1] == (log.stat().st_size, log.stat().st_size)
    assert await StateStore(store).get(f"logfile:{os.path.abspath(log)}") is None
