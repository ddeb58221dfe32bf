"""Exported Check Point log files (plain, gzip, or stdin) as a pull source.

``ExportedFile(path, label=...)`` is a :class:`~monitor.sources.base.PullSource`: ``fetch``
reads a bounded batch of lines (at most ``BATCH_LINES`` lines and about ``BATCH_BYTES`` bytes,
so a huge file is read in several batches and never held whole) and ``normalize`` is the pure
normalize of one line (``normalize_line``). The source never writes and never moves its
cursor: the one ingest pipeline (``monitor/ingest.py``) writes each batch through the writer it
is given and commits the cursor only after the write was acknowledged; stable ids make any
re-read harmless. ``daemon/file_runs.py`` drives it: ``scan_once`` (the daemon's scheduled
pickup of ``sources.files.paths``) and ``ingest_files`` (``monitor ingest checkpoint``).

Two modes:

* ``resume=True`` (the scheduled pickup): the cursor is the file's state document, under the
  key and in the layout the pickup always used, so a deployment's offsets are honoured:
  ``logfile:<absolute path>`` → ``{"inode", "offset", "size", "mtime"}``. A plain file is read
  from ``offset`` up to its last complete line as it was when the run began (appends are picked
  up; an unterminated last line waits; a shrunk file or another inode is read again from the
  start). A gzip file is read whole, including an unterminated last line, when its size or
  mtime changed; while one is read in several batches the cursor says how far
  (``{"inode", "size", "mtime", "unpacked": bytes}``), so a restart skips what was written.
* ``resume=False`` (the one-shot import, stdin included): one pass over the stream from its
  start, every line; stdin cannot rewind, so there is no cursor (``next_cursor`` None, as the
  protocol allows for a source that keeps none) and each ``fetch`` continues where the last one
  stopped; ``more`` says whether the stream has more.

Helpers shared with ``monitor parse``: ``iter_lines(path)`` yields raw lines (bytes, without the
newline) of a file, a ``.gz`` file (detected by magic bytes, not the name) or ``-`` for stdin;
``bounded_lines`` bounds the memory of one line; ``normalize_line(s)``.
"""
from __future__ import annotations

import asyncio
import glob
import gzip
import io
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

from ..errors import SourceError
from ..model import DeadLetter, Document, RawRecord
from ..normalize import normalize_checkpoint
from ..normalize.checkpoint import MAX_LINE_BYTES
from ..settings import FileSource
from .base import Batch

__all__ = ["BATCH_BYTES", "BATCH_LINES", "CutLine", "ExportedFile", "IngestStats",
           "bounded_lines", "iter_lines", "matching_paths", "normalize_line", "normalize_lines"]

#: one batch holds at most this many lines and about this many bytes (a line more at most)
BATCH_LINES = 20_000
BATCH_BYTES = 16 << 20


@dataclass(slots=True)
class IngestStats:
    read: int = 0
    indexed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    parse_dead_letters: int = 0
    bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Counting(io.RawIOBase):
    """Counts compressed bytes read so progress works for gzip too."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.count = 0

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        # the file under it is ours to close (stdin is not: see iter_lines); a GzipFile on top
        # never closes the fileobj it was given, so without this the file stayed open
        if not self.closed and self.inner is not sys.stdin.buffer:
            self.inner.close()
        super().close()

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


def _open(path: str) -> tuple[BinaryIO, _Counting, int]:
    if path == "-":
        raw: BinaryIO = sys.stdin.buffer
        total = 0
    else:
        try:
            raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
            total = os.fstat(raw.fileno()).st_size
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc.strerror}") from exc
    counter = _Counting(raw)
    buffered = io.BufferedReader(counter, buffer_size=1 << 20)
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=buffered), counter, total  # type: ignore[return-value]  # binary streams, typed as BinaryIO
    return buffered, counter, total


class CutLine(bytes):
    """The first ``MAX_LINE_BYTES + 1`` bytes of a longer line; ``length`` is its real length
    (the rest was read and discarded in small pieces, never held)."""

    length: int


def _cut(head: bytes, length: int) -> CutLine:
    line = CutLine(head)
    line.length = length
    return line


def bounded_lines(stream: BinaryIO, *, complete_only: bool = False,
                  limit: int = MAX_LINE_BYTES) -> Iterator[tuple[bytes, int]]:
    """(line without CR/LF, bytes consumed including the newline) for each line of ``stream``,
    holding at most ``limit + 1`` bytes of one line in memory: a longer line is yielded as a
    ``CutLine`` and the rest of it is skipped in 64 KiB reads. ``complete_only``: stop before an
    unterminated last line (a writer is still appending it)."""
    while True:
        head = stream.readline(limit + 1)
        if not head:
            return
        consumed = len(head)
        if head.endswith(b"\n"):
            yield head.rstrip(b"\r\n"), consumed
            continue
        if len(head) <= limit:  # the last line, without a newline
            if not complete_only:
                yield head.rstrip(b"\r"), consumed
            return
        ended, more = False, head
        while not ended:
            more = stream.readline(1 << 16)
            if not more:
                break
            consumed += len(more)
            ended = more.endswith(b"\n")
        if complete_only and not ended:
            return
        tail = 1 + (more[-2:-1] == b"\r") if ended else 0
        yield _cut(head, consumed - tail), consumed


def iter_lines(path: str, progress: Callable[[int, int], None] | None = None) -> Iterator[bytes]:
    """Lines of ``path`` (``-`` = stdin); CR/LF stripped. Memory per line is bounded: a line
    longer than ``MAX_LINE_BYTES`` comes as a ``CutLine`` (its head and real ``length``), which
    ``normalize_line`` turns into a dead letter stating that length."""
    stream, counter, total = _open(path)
    try:
        for number, (line, _consumed) in enumerate(bounded_lines(stream)):
            if progress is not None and number % 20000 == 0:
                progress(counter.count, total)
            yield line
        if progress is not None:
            progress(counter.count, total)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise SourceError(f"{path}: read failed: {exc}") from exc
    finally:
        if path != "-":
            stream.close()
            counter.close()  # GzipFile does not close the file it reads


def normalize_line(line: bytes, source: str, received_at: datetime,
                   keep_original: bool = True) -> Document | DeadLetter:
    """``normalize_checkpoint`` for a line from ``iter_lines``: a cut line is a dead letter
    that states its real length."""
    if type(line) is CutLine:
        return DeadLetter(source, bytes(line[:MAX_LINE_BYTES]),
                          f"record longer than {MAX_LINE_BYTES} bytes ({line.length})",
                          received_at=received_at)
    return normalize_checkpoint(RawRecord(source, line, received_at), keep_original)


def normalize_lines(lines: Iterable[bytes], source: str, keep_original: bool,
                    stats: IngestStats, received_at: datetime | None = None
                    ) -> Iterator[Document | DeadLetter]:
    """Normalize each non-empty line; counts reads and parse dead letters into ``stats``."""
    now = received_at or datetime.now(UTC)
    for line in lines:
        if not line.strip():
            continue
        stats.read += 1
        stats.bytes += (line.length if type(line) is CutLine else len(line)) + 1
        result = normalize_line(line, source, now, keep_original)
        if isinstance(result, DeadLetter):
            stats.parse_dead_letters += 1
        yield result


def matching_paths(cfg: FileSource) -> list[str]:
    """The files ``cfg.paths`` (globs, ``~`` expanded) match now: sorted, each once."""
    return sorted({p for pattern in cfg.paths for p in glob.glob(os.path.expanduser(pattern))})


@dataclass(slots=True)
class _Reading:
    """One open pass over a file: its lines, the bytes consumed so far, where to stop."""

    lines: Iterator[tuple[bytes, int]]
    close: Callable[[], None]
    info: os.stat_result | None = None
    packed: bool = False
    position: int = 0
    #: a plain file's size when the run began: lines appended since wait for the next run
    limit: int | None = None
    counter: _Counting | None = None
    total: int = 0


class ExportedFile:
    """One exported log file (``-``: stdin) as a pull source; see the module docstring."""

    #: labels the writes and their metrics, as the pickup always did
    name = "checkpoint-file"
    #: the event times in an exported file are the sender's claim
    check_time = True

    def __init__(self, path: str, *, label: str, keep_original: bool = True,
                 resume: bool = True, progress: Callable[[int, int], None] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.path = path
        self.label = label
        self.keep_original = keep_original
        self.resume = resume
        self.cursor_key = f"logfile:{os.path.abspath(path)}"
        #: another batch waits: the pipeline reads on while the cursor moves
        self.more = False
        self._progress = progress
        self._clock = clock
        self._reading: _Reading | None = None
        self._started = False
        self._returned: dict[str, Any] | None = None

    async def fetch(self, cursor: dict[str, Any] | None) -> Batch[RawRecord]:
        """The next batch of lines; see the module docstring for what the cursor says."""
        restart = self.resume and cursor != self._returned
        if restart or not self._started:
            # a first fetch, or a cursor this source did not return (its write failed, or
            # another instance moved it): start again from what the stored cursor says
            await self.close()
            self._started = True
            self._reading = await asyncio.to_thread(self._start, cursor)
        reading = self._reading
        if reading is None:
            self.more = False
            return Batch([], cursor)
        before = reading.position
        records, size, ended = await asyncio.to_thread(self._read, reading)
        if self._progress is not None and reading.counter is not None:
            self._progress(reading.counter.count, reading.total)
        if ended:
            await self.close()
        self.more = not ended
        counts = {"read": len(records), "bytes": size}
        if not self.resume:
            return Batch(records, None, counts)
        self._returned = self._next_cursor(reading, before, ended, cursor)
        return Batch(records, self._returned, counts)

    def normalize(self, record: RawRecord) -> list[Document | DeadLetter]:
        """One line as a document, or a dead letter (unparsable, or longer than the limit)."""
        return [normalize_line(record.payload, record.source, record.received_at,
                               self.keep_original)]

    async def close(self) -> None:
        """Close the file being read (never stdin)."""
        reading, self._reading = self._reading, None
        if reading is not None:
            reading.close()

    # -- reading (in a worker thread: a batch is up to BATCH_BYTES of I/O) --------------------
    def _start(self, cursor: dict[str, Any] | None) -> _Reading | None:
        """Open the file where the cursor says; None when nothing new is there."""
        if not self.resume:
            stream, counter, total = _open(self.path)

            def close_all() -> None:
                if self.path != "-":
                    stream.close()
                    counter.close()  # GzipFile does not close the file it reads

            return _Reading(bounded_lines(stream), close_all, counter=counter, total=total)
        try:
            info = os.stat(self.path)
            with open(self.path, "rb") as handle:
                packed = handle.read(2) == b"\x1f\x8b"
        except OSError:  # gone since the listing: nothing to read
            return None
        known = cursor or {}
        if packed:
            return self._start_packed(info, known)
        offset = int(known.get("offset", 0))
        if known.get("inode") != info.st_ino or info.st_size < offset:
            offset = 0  # replaced or truncated: read it again from the start
        if info.st_size == offset:
            return None
        try:
            plain = open(self.path, "rb")  # noqa: SIM115 - closed by close()
            plain.seek(offset)
        except OSError as exc:
            raise SourceError(f"cannot read {self.path}: {exc.strerror}") from exc
        return _Reading(bounded_lines(plain, complete_only=True), plain.close, info,
                        position=offset, limit=info.st_size)

    def _start_packed(self, info: os.stat_result, known: dict[str, Any]) -> _Reading | None:
        """A gzip file: read whole when its size or mtime changed, resuming an unfinished
        read of the same file after the bytes (uncompressed) already written."""
        same = known.get("size") == info.st_size and known.get("mtime") == info.st_mtime
        if same and "unpacked" not in known:
            return None
        skip = int(known["unpacked"]) if same and known.get("inode") == info.st_ino \
            and "unpacked" in known else 0
        stream, counter, _total = _open(self.path)

        def close_all() -> None:
            stream.close()
            counter.close()

        try:
            left = skip
            while left:
                data = stream.read(min(left, 1 << 20))
                if not data:
                    break
                left -= len(data)
        except (OSError, EOFError) as exc:
            close_all()
            raise SourceError(f"{self.path}: read failed: {exc}") from exc
        return _Reading(bounded_lines(stream), close_all, info, packed=True,
                        position=skip - left)

    def _read(self, reading: _Reading) -> tuple[list[RawRecord], int, bool]:
        """(records, their bytes, whether the file is done): the next lines up to the batch
        bounds; blank lines are skipped."""
        now = self._clock()
        records: list[RawRecord] = []
        size = lines = taken = 0
        try:
            for line, consumed in reading.lines:
                if reading.limit is not None and reading.position + consumed > reading.limit:
                    return records, size, True
                reading.position += consumed
                lines += 1
                taken += consumed
                if line.strip():
                    records.append(RawRecord(self.label, line, now))
                    size += (line.length if type(line) is CutLine else len(line)) + 1
                if lines >= BATCH_LINES or taken >= BATCH_BYTES:
                    return records, size, False
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise SourceError(f"{self.path}: read failed: {exc}") from exc
        return records, size, True

    @staticmethod
    def _next_cursor(reading: _Reading, before: int, ended: bool,
                     cursor: dict[str, Any] | None) -> dict[str, Any] | None:
        """The layout the pickup always stored; an unfinished gzip file says how far."""
        info = reading.info
        assert info is not None  # a resumable reading always has its file's identity
        if reading.packed and not ended:
            return {"inode": info.st_ino, "size": info.st_size, "mtime": info.st_mtime,
                    "unpacked": reading.position}
        if not reading.packed and reading.position == before:
            return cursor  # nothing complete yet: the stored offset stays
        offset = info.st_size if reading.packed else reading.position
        return {"inode": info.st_ino, "offset": offset, "size": info.st_size,
                "mtime": info.st_mtime}
