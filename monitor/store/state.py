"""Daemon state in Elasticsearch: cursors, rule windows, baselines and leases.

Everything that must survive a restart lives here, in one index, as small documents updated
with compare-and-set (``if_seq_no`` / ``if_primary_term``). Two writers racing on the same key
cannot both win: the loser gets ``ConflictError`` and re-reads.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import exceptions as es_exc

from ..errors import ConflictError
from .client import Store, translate_error

__all__ = ["StateDoc", "StateStore", "Lease"]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class StateDoc:
    """A state value with the version it was read at (needed to write it back)."""

    key: str
    value: dict[str, Any]
    seq_no: int
    primary_term: int
    owner: str | None = None
    expires_at: str | None = None


@dataclass(frozen=True, slots=True)
class Lease:
    key: str
    owner: str
    held: bool
    expires_at: datetime
    holder: str | None
    doc: StateDoc | None


class StateStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def index(self) -> str:
        return self._store.names.state

    async def get(self, key: str) -> StateDoc | None:
        try:
            response = await self._store.es.get(index=self.index, id=key)
        except es_exc.NotFoundError:
            return None
        except Exception as exc:
            raise translate_error(exc, f"read state {key}") from exc
        source = response["_source"]
        return StateDoc(key=key, value=source.get("value") or {}, seq_no=response["_seq_no"],
                        primary_term=response["_primary_term"], owner=source.get("owner"),
                        expires_at=source.get("expires_at"))

    async def put(self, key: str, value: dict[str, Any], expected: StateDoc | None, *,
                  kind: str = "cursor", owner: str | None = None,
                  expires_at: datetime | None = None, now: datetime | None = None,
                  visible: bool = True) -> StateDoc:
        """Write ``value`` if the stored version is still ``expected`` (None: must not exist).

        ``get`` is real-time, so compare-and-set never needs a refresh; ``visible`` (default)
        also waits until searches see the write, for state that reports aggregate over.
        Leases pass False: their renewal must not wait up to a refresh interval."""
        body: dict[str, Any] = {"kind": kind, "key": key, "value": value,
                                "updated_at": _iso(now or datetime.now(UTC))}
        if owner is not None:
            body["owner"] = owner
        if expires_at is not None:
            body["expires_at"] = _iso(expires_at)
        refresh = "wait_for" if visible else "false"
        try:
            if expected is None:
                response = await self._store.es.index(index=self.index, id=key, document=body,
                                                      op_type="create", refresh=refresh)
            else:
                response = await self._store.es.index(
                    index=self.index, id=key, document=body, if_seq_no=expected.seq_no,
                    if_primary_term=expected.primary_term, refresh=refresh)
        except es_exc.ConflictError as exc:
            raise ConflictError(f"state {key!r} changed since it was read") from exc
        except Exception as exc:
            raise translate_error(exc, f"write state {key}") from exc
        return StateDoc(key=key, value=value, seq_no=response["_seq_no"],
                        primary_term=response["_primary_term"], owner=owner,
                        expires_at=body.get("expires_at"))

    async def update(self, key: str, value: dict[str, Any], *, kind: str = "cursor",
                     attempts: int = 5) -> StateDoc:
        """Last-writer-wins convenience for single-owner keys, still CAS underneath."""
        for _ in range(attempts):
            current = await self.get(key)
            try:
                return await self.put(key, value, current, kind=kind)
            except ConflictError:
                continue
        raise ConflictError(f"state {key!r}: gave up after {attempts} conflicting writes")

    async def acquire_lease(self, key: str, owner: str, ttl: timedelta,
                            now: datetime | None = None) -> Lease:
        """Take or renew the lease ``key`` for ``owner``; held by nobody else or expired."""
        now = now or datetime.now(UTC)
        current = await self.get(key)
        expires = now + ttl
        if current is not None and current.owner != owner and current.expires_at:
            held_until = datetime.fromisoformat(current.expires_at.replace("Z", "+00:00"))
            if held_until > now:
                return Lease(key, owner, False, held_until, current.owner, current)
        try:
            doc = await self.put(key, {"acquired_at": _iso(now)} if current is None or
                                 current.owner != owner else current.value,
                                 current, kind="lease", owner=owner, expires_at=expires, now=now,
                                 visible=False)
        except ConflictError:
            latest = await self.get(key)
            holder = latest.owner if latest else None
            until = datetime.fromisoformat(latest.expires_at.replace("Z", "+00:00")) \
                if latest and latest.expires_at else now
            return Lease(key, owner, False, until, holder, latest)
        return Lease(key, owner, True, expires, owner, doc)

    async def release_lease(self, lease: Lease) -> None:
        """Give the lease up early (clean shutdown) so a standby need not wait for expiry."""
        if not lease.held or lease.doc is None:
            return
        try:
            await self.put(lease.key, lease.doc.value, lease.doc, kind="lease", owner="",
                           expires_at=datetime.fromtimestamp(0, UTC), visible=False)
        except ConflictError:
            pass
