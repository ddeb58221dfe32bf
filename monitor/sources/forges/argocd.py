"""Argo CD API as a deployment-evidence source.

A pull source (``sources/base.py``) the daemon and ``monitor ingest git`` drive with the ingest
pipeline (``monitor/ingest.py``)::

    source = ArgoCdSource(cfg)                      # keeps its HTTP client until close()
    report = await ingest_once(source, writer, state, close=False)

For each application (``cfg.applications``, or every application the token can see), each
``status.history`` entry becomes an ``argocd_sync`` document (revision, deployedAt,
initiatedBy, destination as the environment) and the current ``status.operationState``
becomes one document per phase (who initiated it, revision, phase, message).

Argo CD keeps only ``revisionHistoryLimit`` entries (default 10) and their ``id`` increments by
one per sync, so the last id seen per application is the cursor (state key
``argocd:<source>``, value ``{"last_history_id": {app: id}, "synced_at": time}``); when the
next entry's id is not the next number, entries were deleted upstream before we saw them and a
``history_gap`` document records the missing range (CHK-30). One fetch reads every
application, so a run is one batch.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ...model import DeadLetter, Document
from ...normalize import changes
from ..base import Batch
from ..cursors import cursor_key
from .common import ForgeConnection, bearer_headers, dead_letter, http_counts, iso
from .http import ForgeError, ForgeHttp, build_client

if TYPE_CHECKING:  # pragma: no cover
    import httpx

    from ...settings import ArgoCdSource as ArgoCdSettings

__all__ = ["ArgoCdSource", "history_gaps"]

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


#: one application as read: (the application object, the last history id seen of it, the
#: detection time of this fetch)
ArgoRecord = tuple[Any, int | None, str]


class ArgoCdSource:
    """One configured Argo CD as a pull source; ``fetch`` reads every application once."""

    check_time = True  # times come from the API: screened before they choose an index

    def __init__(self, cfg: ArgoCdSettings, *, client: httpx.AsyncClient | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 now: datetime | None = None) -> None:
        self.cfg = cfg
        self.name = f"argocd:{cfg.name}"
        self.cursor_key = cursor_key("argocd", cfg.name)
        self._now = now
        self.connection = ForgeConnection(
            lambda: build_client(cfg.tls, cfg.timeout_seconds),
            lambda c: ForgeHttp(cfg.name, cfg.base_url, c, headers=bearer_headers(cfg.token),
                                sleep=sleep), client)

    async def fetch(self, cursor: dict[str, Any] | None) -> Batch[ArgoRecord]:
        detected = iso((self._now or datetime.now(UTC)).astimezone(UTC))
        value: dict[str, Any] = dict(cursor or {})
        last_ids: dict[str, int] = dict(value.get("last_history_id") or {})
        http = self.connection.http()
        before = replace(http.counters)
        apps = await _applications(http, self.cfg.applications)
        records: list[ArgoRecord] = []
        gaps = documents = 0
        for app in apps:
            name = _name(app)
            last = last_ids.get(name) if name else None
            records.append((app, last, detected))
            try:
                docs, newest, found = _application(self.cfg.name, app, last, detected)
            except _MALFORMED as exc:  # normalize dead-letters it; the cursor stays
                log.warning("%s: malformed application dead-lettered: %r", self.name, exc)
                continue
            gaps += len(found)
            documents += len(docs)
            for after, before_id in found:
                log.warning("%s: %s lost history entries %d..%d before they were read",
                            self.cfg.name, name, after + 1, before_id - 1)
            if newest is not None and last is not None and newest < last:
                log.warning("%s: history ids of %s went back (%d < %d): app recreated?",
                            self.cfg.name, name, newest, last)
            if newest is not None:
                last_ids[name] = newest if last is None else max(newest, last)
        value.update({"last_history_id": last_ids, "synced_at": detected})
        return Batch(records, value, {"gaps": gaps, "documents": documents,
                                      **http_counts(before, http.counters)})

    def normalize(self, record: ArgoRecord) -> Iterable[Document | DeadLetter]:
        app, last, detected = record
        try:
            return _application(self.cfg.name, app, last, detected)[0]
        except _MALFORMED as exc:
            return [dead_letter(self.name, "application", app, exc)]

    async def close(self) -> None:
        await self.connection.close()


_MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def _name(app: Any) -> str:
    try:
        return str((app.get("metadata") or {}).get("name") or "")
    except _MALFORMED:
        return ""


def _application(source: str, app: Any, last: int | None, detected: str
                 ) -> tuple[list[Document], int | None, list[tuple[int, int]]]:
    """One application's documents (new history entries, history gaps, the current
    operation), its newest history id (None without history) and the gaps found. Pure;
    raises on an application of an unexpected shape."""
    if not isinstance(app, dict):
        raise TypeError(f"expected an object, got {type(app).__name__}")
    name = _name(app)
    if not name:
        raise ValueError("application without metadata.name")
    history = [e for e in (app.get("status") or {}).get("history") or []
               if isinstance(e, dict) and type(e.get("id")) is int]
    new = [e for e in history if last is None or e["id"] > last]
    found = history_gaps(last, [e["id"] for e in new])
    docs = [changes.history_gap_document("argocd", source, name, after, before_id, detected)
            for after, before_id in found]
    docs.extend(changes.argocd_history_document(source, app, e) for e in new)
    operation = changes.argocd_operation_document(source, app)
    if operation is not None:
        docs.append(operation)
    return docs, (max(e["id"] for e in history) if history else None), found


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
