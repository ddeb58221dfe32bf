"""Reconcile waits for the change sources: an install is judged only on synced data.

The change sources (git mirrors, GitHub, GitLab, Argo CD) write their cursors into the state
index at every successful sync (``updated_at``). ``synced_through`` reads the oldest of them:
every change made before that moment is indexed. A ``reconcile`` rule's window then ends at
``min(now - delay, synced_through - sync_grace)``, so an install whose approving PR is synced
four minutes later waits four minutes instead of becoming a false out-of-band finding.

A source that has not synced for ``stale_after`` holds every later install back; it is a
finding of its own (``stale_drafts``: rule, group ``change.source``, one per stale episode),
never a false out-of-band one.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from ..store import Store
from ..store.search import SearchStats, msearch
from .schema import Rule
from .types.base import Draft, to_dt

__all__ = ["CHANGE_CURSORS", "SyncState", "read_sync", "stale_drafts"]

#: state keys of the change sources' cursors (``sources/cursors.py``)
CHANGE_CURSORS = ("git:", "github:", "gitlab:", "argocd:")


class SyncState:
    """Each change source's last successful sync (key → time); empty: none configured."""

    def __init__(self, synced: dict[str, datetime]) -> None:
        self.synced = synced

    @property
    def through(self) -> datetime | None:
        return min(self.synced.values()) if self.synced else None

    def stale(self, now: datetime, rule: Rule) -> dict[str, datetime]:
        assert rule.reconcile is not None
        return {k: v for k, v in self.synced.items() if now - v > rule.reconcile.stale_after}


async def read_sync(store: Store, stats: SearchStats) -> SyncState:
    body: dict[str, Any] = {
        "size": 0, "track_total_hits": False,
        "query": {"bool": {"should": [{"prefix": {"key": p}} for p in CHANGE_CURSORS],
                           "minimum_should_match": 1}},
        "aggs": {"k": {"terms": {"field": "key", "size": 1000},
                       "aggs": {"at": {"max": {"field": "updated_at"}}}}}}
    (response,) = await msearch(store, [("state", body)], stats, raise_errors=False)
    buckets = ((response.get("aggregations") or {}).get("k") or {}).get("buckets", [])
    return SyncState({str(b["key"]): to_dt(b["at"]["value"]) for b in buckets
                      if b["at"].get("value") is not None})


def stale_drafts(rule: Rule, sync: SyncState, now: datetime) -> list[Draft]:
    """One draft per stale change source, keyed by its last sync (one finding per episode)."""
    out = []
    for key, at in sorted(sync.stale(now, rule).items()):
        out.append(Draft(group={"change.source": key}, window_start=at, window_end=now,
                         count=0, first_seen=at, last_seen=at, evidence_range=None,
                         detection={"state_key": key},
                         extra={"reason": "change source has not synced: installs after "
                                          f"{at.isoformat()} wait instead of being judged",
                                "last_sync": at.isoformat(), "stale_seconds":
                                int((now - at).total_seconds())}))
    return out
