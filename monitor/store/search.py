"""Read helpers: one search, a batch of searches, a paged composite aggregation.

Callers build query bodies (pure functions elsewhere) and hand them here; only this module
sends them. Every helper tolerates missing indices (a fresh install answers empty, not 404)
and can add Elasticsearch's own ``took`` to a :class:`SearchStats` so a caller can report how
much of its time was spent inside Elasticsearch.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from .client import Store, translate_error

__all__ = ["SearchStats", "search_kind", "msearch_kinds", "composite_buckets"]

_TOLERANT = {"ignore_unavailable": True, "allow_no_indices": True}


@dataclass(slots=True)
class SearchStats:
    """Elasticsearch-side time (sum of ``took``) and the number of round trips."""

    took_ms: int = 0
    requests: int = 0
    searches: int = 0


async def search_kind(store: Store, kind: str, body: dict[str, Any], *, what: str,
                      stats: SearchStats | None = None) -> dict[str, Any]:
    """Run one search over every index of ``kind``; return the response body."""
    try:
        response = await store.es.search(index=store.names.read(kind), body=body, **_TOLERANT)
    except Exception as exc:  # noqa: BLE001 - translated
        raise translate_error(exc, what) from exc
    result = dict(response.body)
    if stats is not None:
        stats.took_ms += int(result.get("took", 0))
        stats.requests += 1
        stats.searches += 1
    return result


async def msearch_kinds(store: Store, searches: Sequence[tuple[str, dict[str, Any]]], *,
                        what: str, stats: SearchStats | None = None) -> list[dict[str, Any]]:
    """Run several (kind, body) searches in one ``_msearch`` round trip, answers in order.

    A search that fails inside the batch raises ``StoreError`` naming its position and kind.
    """
    if not searches:
        return []
    lines: list[dict[str, Any]] = []
    for kind, body in searches:
        lines.append({"index": store.names.read(kind), **_TOLERANT})
        lines.append(body)
    try:
        response = await store.es.msearch(searches=lines)
    except Exception as exc:  # noqa: BLE001
        raise translate_error(exc, what) from exc
    answers = list(response.body.get("responses", []))
    out: list[dict[str, Any]] = []
    for position, ((kind, _), answer) in enumerate(zip(searches, answers, strict=True)):
        if "error" in answer:
            error = answer["error"]
            reason = error.get("reason") if isinstance(error, dict) else error
            from ..errors import StoreError

            raise StoreError(f"{what}: search {position} on {kind} failed: {str(reason)[:300]}")
        out.append(answer)
        if stats is not None:
            stats.took_ms += int(answer.get("took", 0))
            stats.searches += 1
    if stats is not None:
        stats.requests += 1
    return out


async def composite_buckets(store: Store, kind: str, query: dict[str, Any],
                            sources: list[dict[str, Any]], *, aggs: dict[str, Any] | None = None,
                            page_size: int = 500, what: str,
                            stats: SearchStats | None = None) -> AsyncIterator[dict[str, Any]]:
    """Yield every bucket of a ``composite`` aggregation, page by page (``after_key``)."""
    after: dict[str, Any] | None = None
    while True:
        composite: dict[str, Any] = {"size": page_size, "sources": sources}
        if after is not None:
            composite["after"] = after
        agg: dict[str, Any] = {"composite": composite}
        if aggs:
            agg["aggs"] = aggs
        body = {"size": 0, "track_total_hits": False, "query": query, "aggs": {"c": agg}}
        answer = await search_kind(store, kind, body, what=what, stats=stats)
        result = (answer.get("aggregations") or {}).get("c") or {}
        buckets = result.get("buckets", [])
        for bucket in buckets:
            yield bucket
        after = result.get("after_key")
        if not buckets or after is None or len(buckets) < page_size:
            return
