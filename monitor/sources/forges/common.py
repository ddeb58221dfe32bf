"""Small helpers the forge modules share: collecting pages, stats bookkeeping, timestamps."""
from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ..git import SyncStats
from .http import ForgeCounters, ForgeError, ForgeHttp, counters

__all__ = ["collect", "finish", "iso", "start_stats"]


async def collect(http: ForgeHttp, path: str, params: dict[str, Any] | None = None, *,
                  key: str | None = None, missing_ok: bool = False,
                  max_pages: int = 100) -> list[Any]:
    """Every item of a paginated list (``missing_ok``: a 404 means an empty list)."""
    items: list[Any] = []
    try:
        async for page in http.pages(path, params, key=key, max_pages=max_pages):
            items += [item for item in page if isinstance(item, dict)]
    except ForgeError as exc:
        if missing_ok and exc.status == 404:
            return []
        raise
    return items


def start_stats(source: str, kind: str) -> tuple[SyncStats, ForgeCounters, float]:
    return SyncStats(source, kind), replace(counters(source)), time.monotonic()


def finish(stats: SyncStats, http: ForgeHttp, before: ForgeCounters, started: float) -> None:
    now = http.counters
    stats.requests = now.requests - before.requests
    stats.not_modified = now.not_modified - before.not_modified
    stats.rate_limit_waits = now.rate_limit_waits - before.rate_limit_waits
    stats.rate_limit_wait_seconds = now.rate_limit_wait_seconds - before.rate_limit_wait_seconds
    stats.seconds = time.monotonic() - started


def iso(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``, the format GitHub and GitLab use (comparable as strings)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
