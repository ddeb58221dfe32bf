"""Exported log files on the ingest pipeline, for the daemon and ``monitor ingest checkpoint``.

Each file is an ``ExportedFile`` pull source (``sources/logfiles.py``) driven by
``ingest_pages``: a bounded batch of lines is read, normalized, written through the writer
given (the daemon's, with its hooks and metrics) and, for the scheduled pickup, the file's
offset is committed (compare-and-set) only after the write was acknowledged. Ids are stable, so
anything read twice comes back as duplicates.

* ``scan_once(cfg, writer, state)``: the daemon's scheduled pickup of ``sources.files.paths``
  (offsets per file in the state index, key ``logfile:<absolute path>``).
* ``ingest_files(paths, writer)``: the one-shot import (``-`` = stdin), every line of every
  file from its start, no offsets kept.

Both return ``IngestStats``; unparsable lines go to the dead-letter index (counted as
dead-lettered, whether stored now or by an earlier run, and as ``parse_dead_letters``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from ..ingest import IngestReport, ingest_pages, ingest_stream
from ..settings import FileSource
from ..sources.logfiles import ExportedFile, IngestStats, matching_paths
from ..store import BulkWriter, StateStore

__all__ = ["ingest_files", "scan_once"]


async def scan_once(cfg: FileSource, writer: BulkWriter, state: StateStore, *,
                    keep_original: bool = True, source: str = "checkpoint:file") -> IngestStats:
    """Ingest what is new in the files matching ``cfg.paths`` (globs): appends to plain files
    up to their last complete line, changed gzip files whole (``sources/logfiles.py``)."""
    stats = IngestStats()
    for path in matching_paths(cfg):
        await _ingest(ExportedFile(path, label=f"{source}:{Path(path).name}",
                                   keep_original=keep_original), writer, state, stats)
    return stats


async def ingest_files(paths: Iterable[str], writer: BulkWriter, *,
                       source: str = "checkpoint:file", keep_original: bool = True,
                       progress: Callable[[int, int], None] | None = None,
                       refresh: bool = False) -> IngestStats:
    """Index every line of ``paths`` (``-`` = stdin); ``progress(done_bytes, total_bytes)`` is
    called after each batch (compressed bytes for gzip)."""
    stats = IngestStats()
    for path in paths:
        label = source if path == "-" else f"{source}:{Path(path).name}"
        await _ingest(ExportedFile(path, label=label, keep_original=keep_original,
                                   resume=False, progress=progress), writer, None, stats)
    if refresh:
        await writer.refresh()
    return stats


async def _ingest(file: ExportedFile, writer: BulkWriter, state: StateStore | None,
                  stats: IngestStats) -> None:
    """One file to its end, batch by batch; the file is closed whatever happens. Without a
    state (the one-shot import) there is no offset to commit between batches: one write
    streams them all (``ingest_stream``)."""
    try:
        if state is None:
            _add(stats, await ingest_stream(file, writer))
            return
        while True:
            for report in await ingest_pages(file, writer, state):
                _add(stats, report)
            # ``ingest_pages`` also stops at a page without a cursor (the one-shot source
            # keeps none) or without records (only blank lines): go on while the file has more
            if not file.more:
                break
    finally:
        await file.close()


def _add(stats: IngestStats, report: IngestReport) -> None:
    stats.read += report.counts.get("read", 0)
    stats.bytes += report.counts.get("bytes", 0)
    stats.indexed += report.result.indexed
    stats.duplicates += report.result.duplicates
    stats.dead_lettered += report.result.dead_lettered
    stats.parse_dead_letters += report.rejected
