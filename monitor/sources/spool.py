"""Disk spool for raw records while Elasticsearch is unreachable: bounded, fsync'd, ordered.

Records are appended to numbered segment files as frames
``[u32 length][u32 crc32][u64 received_at µs][u16 source length][source][payload]``.
``append`` fsyncs every ``fsync_every_records`` records (and ``flush`` / ``close`` always do);
the total size never exceeds ``max_bytes``: when full, ``append`` returns how many records it
could *not* take and the caller must count and log them (nothing is dropped silently).
``read_batches`` replays in append order; ``commit(batch)`` is called after the batch was
acknowledged and removes consumed segments and remembers the offset, so a crash mid-replay
re-sends at most one batch (stable ids turn that into 409 duplicates). A torn frame at the
end of a segment (crash while writing) is detected by length/CRC and skipped with a log line.
"""
from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..model import RawRecord
from ..settings import SpoolSettings

__all__ = ["DiskSpool", "SpoolBatch"]

log = logging.getLogger(__name__)

_HEAD = struct.Struct(">IIQH")
_SEGMENT_BYTES = 16 * 1024 * 1024
_OFFSET_FILE = "replay.offset"


@dataclass(frozen=True, slots=True)
class SpoolBatch:
    records: list[RawRecord]
    segment: int
    end_offset: int
    segment_done: bool


class DiskSpool:
    def __init__(self, settings: SpoolSettings, name: str = "syslog",
                 segment_bytes: int = _SEGMENT_BYTES) -> None:
        self.dir = Path(settings.dir) / name
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        self.max_bytes = settings.max_bytes
        self.fsync_every = settings.fsync_every_records
        self.file_mode = settings.file_mode
        self.segment_bytes = min(segment_bytes, max(1024, settings.max_bytes // 4))
        self._file: object | None = None
        self._fd: int | None = None
        self._segment = 0
        self._size = 0
        self._unsynced = 0
        self.records_spooled = 0
        self.records_refused = 0
        self._bytes = sum(p.stat().st_size for p in self._segments_paths())
        self._skip = self._read_offset()

    # -- state --------------------------------------------------------------------------
    def _segments_paths(self) -> list[Path]:
        return sorted(self.dir.glob("*.seg"))

    def _segments(self) -> list[int]:
        return [int(p.stem) for p in self._segments_paths()]

    @property
    def bytes(self) -> int:
        """Bytes currently held on disk (for the ``monitor_spool_bytes`` gauge)."""
        return self._bytes

    def empty(self) -> bool:
        return self._bytes == 0 or not self._segments()

    def _read_offset(self) -> tuple[int, int]:
        try:
            segment, offset = (self.dir / _OFFSET_FILE).read_text().split()
            return int(segment), int(offset)
        except (OSError, ValueError):
            return (-1, 0)

    def _write_offset(self, segment: int, offset: int) -> None:
        tmp = self.dir / (_OFFSET_FILE + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, self.file_mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{segment} {offset}")
        os.replace(tmp, self.dir / _OFFSET_FILE)
        self._skip = (segment, offset)

    # -- writing ------------------------------------------------------------------------
    def _open_segment(self) -> None:
        existing = self._segments()
        self._segment = (existing[-1] + 1) if existing else 1
        path = self.dir / f"{self._segment:012d}.seg"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, self.file_mode)
        os.fchmod(self._fd, self.file_mode)  # not widened or narrowed by the umask
        self._size = 0

    def append(self, records: list[RawRecord]) -> int:
        """Append in order; returns the number refused because the spool is full."""
        frames: list[bytes] = []
        refused = 0
        budget = self.max_bytes - self._bytes
        for index, record in enumerate(records):
            source = record.source.encode("utf-8", "replace")[:65535]
            micros = int(record.received_at.timestamp() * 1_000_000)
            body = source + record.payload
            frame = _HEAD.pack(len(body), zlib.crc32(body), micros, len(source)) + body
            if len(frame) > budget:
                refused = len(records) - index
                break
            budget -= len(frame)
            frames.append(frame)
        for frame in frames:
            if self._fd is None or self._size >= self.segment_bytes:
                self._close_segment()
                self._open_segment()
            assert self._fd is not None
            os.write(self._fd, frame)
            self._size += len(frame)
            self._bytes += len(frame)
            self._unsynced += 1
            if self._unsynced >= self.fsync_every:
                os.fsync(self._fd)
                self._unsynced = 0
        self.records_spooled += len(frames)
        self.records_refused += refused
        return refused

    def flush(self) -> None:
        if self._fd is not None and self._unsynced:
            os.fsync(self._fd)
            self._unsynced = 0

    def _close_segment(self) -> None:
        if self._fd is not None:
            self.flush()
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        self._close_segment()

    # -- replay -------------------------------------------------------------------------
    def read_batches(self, batch_size: int = 5000) -> Iterator[SpoolBatch]:
        """Batches in append order; closes the open segment first so it can be replayed."""
        self._close_segment()
        for segment in self._segments():
            start = self._skip[1] if self._skip[0] == segment else 0
            yield from self._read_segment(segment, start, batch_size)

    def _read_segment(self, segment: int, start: int, batch_size: int) -> Iterator[SpoolBatch]:
        path = self.dir / f"{segment:012d}.seg"
        data = path.read_bytes()
        position = start
        batch: list[RawRecord] = []
        while position < len(data):
            if position + _HEAD.size > len(data):
                log.error("spool %s: torn frame header at %d; skipping tail", path, position)
                position = len(data)
                break
            length, crc, micros, source_len = _HEAD.unpack_from(data, position)
            body = data[position + _HEAD.size:position + _HEAD.size + length]
            if len(body) < length or zlib.crc32(body) != crc or source_len > length:
                log.error("spool %s: corrupt frame at %d; skipping tail", path, position)
                position = len(data)
                break
            position += _HEAD.size + length
            batch.append(RawRecord(body[:source_len].decode("utf-8", "replace"),
                                   body[source_len:],
                                   datetime.fromtimestamp(micros / 1_000_000, UTC)))
            if len(batch) >= batch_size:
                yield SpoolBatch(batch, segment, position, position >= len(data))
                batch = []
        yield SpoolBatch(batch, segment, position, True)

    def commit(self, batch: SpoolBatch) -> None:
        """The batch is acknowledged by Elasticsearch: forget it."""
        if batch.segment_done:
            path = self.dir / f"{batch.segment:012d}.seg"
            try:
                size = path.stat().st_size
                path.unlink()
                self._bytes = max(0, self._bytes - size)
            except FileNotFoundError:
                pass
            self._write_offset(-1, 0)
        else:
            self._write_offset(batch.segment, batch.end_offset)
