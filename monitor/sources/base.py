"""What every source shares: the pull protocol and the counters of one pull.

A source is a pure pull: ``fetch(cursor)`` returns a :class:`Batch` (the records read since
``cursor`` and the cursor to continue from) and ``normalize(record)`` turns one record into
documents or dead letters. The source never writes and never moves its cursor: the one ingest
pipeline (``monitor/ingest.py``) writes through the daemon's writer, then commits the cursor
only once the write is acknowledged, so a crash or an outage repeats work instead of losing it.

A source with more to read than one batch should hold (a first git import, a forge's pages)
sets its ``more`` attribute in ``fetch``; ``ingest_pages`` then fetches again from the cursor
just committed, so each batch stays bounded however long the history.

``SyncStats`` adds up a run: ``daemon/forge_runs.ingest_changes`` makes one from the batches of
a change source's pull sources (git repositories, forges); the daemon turns it into the job's
report and metrics, so no module keeps running totals.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from ..model import DeadLetter, Document

__all__ = ["Batch", "PullSource", "SyncStats"]

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


@dataclass(frozen=True, slots=True)
class Batch(Generic[R]):
    """What one ``fetch`` read: the records, the cursor to continue from (a JSON object, stored
    as the state document; None when the source keeps none) and counts worth reporting
    (bounded names, e.g. ``gateways``)."""

    records: Sequence[R]
    next_cursor: dict[str, Any] | None = None
    counts: dict[str, int] = field(default_factory=dict)


class PullSource(Protocol[R]):
    """A source the ingest pipeline can drive. ``name`` labels its writes, metrics and cursor.

    Optional attributes the pipeline reads: ``cursor_key`` (the state key of the cursor, when
    not ``cursor:<name>``), ``check_time`` (true for senders whose claimed event times must
    be screened before they choose an index) and ``more`` (true after a ``fetch`` that left
    records for another)."""

    name: str

    async def fetch(self, cursor: dict[str, Any] | None) -> Batch[R]:
        """The records after ``cursor`` (None: from the beginning or the configured start)."""
        ...

    def normalize(self, record: R) -> Iterable[Document | DeadLetter]:
        """One record as documents or dead letters; pure, no I/O."""
        ...

    async def close(self) -> None:
        """Release connections (log out of an API, close an HTTP client)."""
        ...


@dataclass(slots=True)
class SyncStats:
    """Counters of one sync run."""

    source: str
    kind: str = "git"
    documents: int = 0
    commits: int = 0
    tags: int = 0
    rewrites: int = 0
    gaps: int = 0
    indexed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    requests: int = 0
    not_modified: int = 0
    rate_limit_waits: int = 0
    rate_limit_wait_seconds: float = 0.0
    errors: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def add_result(self, result: Any) -> None:
        self.indexed += result.indexed
        self.duplicates += result.duplicates
        self.dead_lettered += result.dead_lettered
