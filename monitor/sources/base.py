"""What every source shares: the counters of one pull.

``SyncStats`` is returned by the git and forge syncs; the daemon turns it into the job's report
and metrics (per source, through the registry), so no module keeps running totals of its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["SyncStats"]


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
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]

    def add_result(self, result: Any) -> None:
        self.indexed += result.indexed
        self.duplicates += result.duplicates
        self.dead_lettered += result.dead_lettered
