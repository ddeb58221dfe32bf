"""Exported Check Point log files (plain, gzip, or stdin) → normalized documents → the store.

Entry points:

* ``iter_lines(path)`` yields raw lines (bytes, without the newline) of a file, a ``.gz``
  file (detected by magic bytes, not the name) or ``-`` for stdin.
* ``async ingest_files(paths, writer, *, source="checkpoint:file", keep_original=True,
  progress=None) -> IngestStats``: parse, normalize and bulk-index; ``progress(done_bytes,
  total_bytes)`` is called about once per chunk. Ids are stable, so ingesting a file twice
  reports duplicates instead of indexing twice.
* ``async scan_once(cfg: FileSource, writer, state) -> IngestStats``: the scheduled pickup of
  ``sources.files.paths`` (offsets per file in the state index; see its docstring).
"""
from __future__ import annotations

import glob
import gzip
import io
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import SourceError
from ..model import DeadLetter, Document, RawRecord
from ..normalize import normalize_checkpoint
from ..normalize.checkpoint import MAX_LINE_BYTES
from ..settings import FileSource
from ..store.state import StateStore
from ..store.writer import BulkWriter

__all__ = ["CutLine", "IngestStats", "bounded_lines", "ingest_files", "iter_lines", "normalize_line",
           "normalize_lines", "scan_once"]



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
    return buffered, counter, total  # type: ignore[return-value]  # binary streams, typed as BinaryIO


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


async def ingest_files(paths: Iterable[str], writer: BulkWriter, *,
                       source: str = "checkpoint:file", keep_original: bool = True,
                       progress: Callable[[int, int], None] | None = None,
                       refresh: bool = False) -> IngestStats:
    """Index documents; unparsable lines go to the dead-letter index (counted as dead-lettered,
    whether stored now or already stored by an earlier run)."""
    stats = IngestStats()
    for path in paths:
        label = source if path == "-" else f"{source}:{Path(path).name}"
        await _ingest_one(path, label, writer, keep_original, progress, stats)
    if refresh:
        await writer.refresh()
    return stats


async def _ingest_one(path: str, label: str, writer: BulkWriter, keep_original: bool,
                      progress: Callable[[int, int], None] | None, stats: IngestStats) -> None:
    await _ingest_lines(iter_lines(path, progress), label, writer, keep_original, stats)


async def _ingest_lines(lines: Iterable[bytes], label: str, writer: BulkWriter,
                        keep_original: bool, stats: IngestStats) -> None:
    """Stream documents and parse dead letters together into the writer."""
    result = await writer.write(normalize_lines(lines, label, keep_original, stats),
                                label="checkpoint-file", check_time=True)
    stats.indexed += result.indexed
    stats.duplicates += result.duplicates
    stats.dead_lettered += result.dead_lettered


async def scan_once(cfg: FileSource, writer: BulkWriter, state: StateStore, *,
                    keep_original: bool = True, source: str = "checkpoint:file") -> IngestStats:
    """Daemon entry point for ``sources.files``: ingest what is new in the files matching
    ``cfg.paths`` (globs). Plain files are read from the stored offset up to their last complete
    line (appends are picked up; a shrunk or replaced file is read again from the start); gzip
    files are read whole when their size or mtime changed. The offset (``StateStore`` key
    ``logfile:<path>``) moves only after the writer acknowledged the documents; stable ids make
    any re-read harmless."""
    stats = IngestStats()
    matches = sorted({p for pattern in cfg.paths for p in glob.glob(os.path.expanduser(pattern))})
    for path in matches:
        try:
            info = os.stat(path)
        except OSError:
            continue
        key = f"logfile:{os.path.abspath(path)}"
        current = await state.get(key)
        known = current.value if current else {}
        with open(path, "rb") as handle:  # a 2-byte magic check: no thread needed
            packed = handle.read(2) == b"\x1f\x8b"
        if packed:
            if known.get("size") == info.st_size and known.get("mtime") == info.st_mtime:
                continue
            part = await ingest_files([path], writer, source=source, keep_original=keep_original)
            offset = info.st_size
        else:
            offset = int(known.get("offset", 0))
            if known.get("inode") != info.st_ino or info.st_size < offset:
                offset = 0
            if info.st_size == offset:
                continue
            part = IngestStats()
            consumed = [offset]
            limit = info.st_size

            def complete_lines(start: int = offset, consumed: list[int] = consumed,
                               limit: int = limit, path: str = path) -> Iterator[bytes]:
                """Complete lines from ``start`` (streamed; an unterminated tail waits)."""
                with open(path, "rb") as handle:
                    handle.seek(start)
                    position = start
                    for line, size in bounded_lines(handle, complete_only=True):
                        if position + size > limit:
                            break
                        position += size
                        consumed[0] = position
                        yield line

            await _ingest_lines(complete_lines(), f"{source}:{Path(path).name}", writer,
                                keep_original, part)
            if consumed[0] == offset:
                continue
            offset = consumed[0]
        await state.update(key, {"inode": info.st_ino, "offset": offset, "size": info.st_size,
                                 "mtime": info.st_mtime})
        for name in ("read", "indexed", "duplicates", "dead_lettered", "parse_dead_letters",
                     "bytes"):
            setattr(stats, name, getattr(stats, name) + getattr(part, name))
    return stats
