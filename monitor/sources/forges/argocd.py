"""Argo CD API as a deployment-evidence source.

Entry point for the daemon::

    stats = await sync_argocd(cfg, writer, state, client=None)   # -> SyncStats

For each application (``cfg.applications``, or every application the token can see), each
``status.history`` entry becomes an ``argocd_sync`` document (revision, deployedAt,
initiatedBy, destination as the environment) and the current ``status.operationState``
becomes one document per phase (who initiated it, revision, phase, message).

Argo CD keeps only ``revisionHistoryLimit`` entries (default 10) and their ``id`` increments by
one per sync, so the last id seen per application is kept in the state index
(``argocd:<source>``); when the next entry's id is not the next number, entries were deleted
upstream before we saw them and a ``history_gap`` document records the missing range (CHK-30).
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ...normalize import changes
from ..base import SyncStats
from ..cursors import cursor_key
from .common import bearer_headers, forge_run, guard, iso, write
from .http import ForgeError, ForgeHttp, build_client

if TYPE_CHECKING:  # pragma: no cover
    import httpx

    from ...settings import ArgoCdSource
    from ...store import BulkWriter, StateStore

__all__ = ["history_gaps", "sync_argocd"]

log = logging.getLogger(__name__)
_APP_RE = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")


def history_gaps(last_id: int | None, ids: list[int]) -> list[tuple[int, int]]:
    """(after, before) pairs where ids are missing between ``last_id`` and the sorted new
    ``ids``. The first run (``last_id`` None) cannot know what came before."""
    gaps = []
    previous = last_id
    for value in sorted(ids):
        if previous is not None and value > previous + 1:
            gaps.append((previous, value))
        previous = value if previous is None else max(previous, value)
    return gaps


async def sync_argocd(cfg: ArgoCdSource, writer: BulkWriter, state: StateStore,
                      client: httpx.AsyncClient | None = None, *,
                      sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                      now: datetime | None = None) -> SyncStats:
    """Collect sync history and operation state, detect history gaps (see module doc)."""
    detected = iso((now or datetime.now(UTC)).astimezone(UTC))
    key = cursor_key("argocd", cfg.name)
    async with forge_run(
        cfg.name, "argocd", client, lambda: build_client(cfg.tls, cfg.timeout_seconds),
        lambda c: ForgeHttp(cfg.name, cfg.base_url, c, headers=bearer_headers(cfg.token),
                            sleep=sleep),
    ) as (http, stats):
        current = await state.get(key)
        value: dict[str, Any] = dict(current.value) if current else {}
        last_ids: dict[str, int] = dict(value.get("last_history_id") or {})
        apps = await _applications(http, cfg.applications)
        docs: list[Any] = []
        async def application(app: dict[str, Any]) -> None:
            name = str((app.get("metadata") or {}).get("name") or "")
            if not name:
                raise ValueError("application without metadata.name")
            history = [e for e in (app.get("status") or {}).get("history") or []
                       if isinstance(e, dict) and type(e.get("id")) is int]
            last = last_ids.get(name)
            new = [e for e in history if last is None or e["id"] > last]
            if last is not None and history and max(e["id"] for e in history) < last:
                log.warning("%s: history ids of %s went back (%d < %d): app recreated?",
                            cfg.name, name, max(e["id"] for e in history), last)
            for after, before_id in history_gaps(last, [e["id"] for e in new]):
                docs.append(changes.history_gap_document("argocd", cfg.name, name, after,
                                                         before_id, detected))
                stats.gaps += 1
                log.warning("%s: %s lost history entries %d..%d before they were read",
                            cfg.name, name, after + 1, before_id - 1)
            docs.extend(changes.argocd_history_document(cfg.name, app, e) for e in new)
            operation = changes.argocd_operation_document(cfg.name, app)
            if operation is not None:
                docs.append(operation)
            if history:
                last_ids[name] = max([e["id"] for e in history] +
                                     ([last] if last is not None else []))

        for app in apps:
            await guard(docs, f"argocd:{cfg.name}", "application", app, application)
        await write(writer, docs, stats, f"argocd:{cfg.name}")
        value.update({"last_history_id": last_ids, "synced_at": detected})
        await state.put(key, value, current)
    return stats


async def _applications(http: ForgeHttp, names: list[str]) -> list[Any]:
    if not names:
        data = (await http.get("api/v1/applications")).data
        items = data.get("items") if isinstance(data, dict) else None
        return list(items) if isinstance(items, list) else []
    apps = []
    for name in names:
        if not _APP_RE.match(name):
            raise ForgeError(f"{http.source}: invalid application name {name[:100]!r}")
        apps.append((await http.get(f"api/v1/applications/{quote(name, safe='')}")).data)
    return apps
