"""One run of a change source (git, a forge) on the ingest pipeline, for the daemon and
``monitor ingest git``.

A change source is a pull source (``sources/base.py``): a git repository, or one cursor of a
forge (a configured forge may be several, sharing one HTTP client). ``ingest_changes`` drives
each with ``ingest_once`` (normalize → write → commit the cursor, compare-and-set) and, while
the source says another page waits (its ``more`` attribute) and the cursor still moves, once
more, at most ``max_rounds`` times (None: until the source is done, as the command runs a git
import): every page's cursor is committed right after its own write. The counts of every batch
(and a source's ``warnings``) add up to the run's ``SyncStats``, which the daemon turns into its
job report and the command into its summary. Every change document is judged on its way to the
store (``compliance.change_review.judge_document``: independent approval, checks), so the
verdict the rules and controls filter on is written beside the facts it was drawn from.

The sources are not closed here: the daemon keeps them (their ETag caches, a git walk between
pages) from one run to the next and closes them when it stops or reloads; the command closes
them after its run.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from ..compliance.change_review import judge_document
from ..ingest import ingest_pages
from ..sources.base import PullSource, SyncStats
from ..store import BulkWriter, StateStore

__all__ = ["MAX_ROUNDS", "ingest_changes"]

#: pages one run reads of one source at most (the next run continues from the cursor)
MAX_ROUNDS = 50

#: the batch counts that add up in ``SyncStats`` (the write's own come from its result)
_NUMBERS = {f.name for f in fields(SyncStats)} - {
    "source", "kind", "warnings", "indexed", "duplicates", "dead_lettered", "seconds", "errors"}


async def ingest_changes(sources: Sequence[PullSource[Any]], kind: str, name: str,
                         writer: BulkWriter, state: StateStore, *,
                         max_rounds: int | None = MAX_ROUNDS) -> SyncStats:
    """Ingest every source of one configured change source; returns the run's counts."""
    stats = SyncStats(name, kind)
    started = time.monotonic()
    try:
        for source in sources:
            for report in await ingest_pages(source, writer, state, max_rounds=max_rounds,
                                             judge=judge_document):
                stats.add_result(report.result)
                for key, value in report.counts.items():
                    if key in _NUMBERS:
                        setattr(stats, key, getattr(stats, key) + value)
            stats.warnings += getattr(source, "warnings", [])
    finally:
        stats.seconds = time.monotonic() - started
    return stats
