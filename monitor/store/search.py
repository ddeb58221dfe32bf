"""Read helpers: one search, a batch of searches, a paged composite aggregation.

Callers build query bodies (pure functions elsewhere) and hand them here; only this module
sends them. Every helper tolerates missing indices (a fresh install answers empty, not 404)
and can add Elasticsearch's own ``took`` to a :class:`SearchStats` so a caller can report how
much of its time was spent inside Elasticsearch.

* ``search``, ``msearch_kinds``, ``composite_buckets`` (reports, compliance): see below.

Helpers used by the rule engine and findings (one small function per need):

* ``msearch(store, requests, stats=None, filter_path=None) -> list[dict]`` one ``_msearch``
  round trip for ``[(kind, body), ...]`` (kind: an index kind such as ``events``); returns
  response bodies in order; a failed item raises ``StoreError`` naming its position. ``stats``
  (a ``SearchStats``) accumulates round trips and Elasticsearch's own ``took``; ``filter_path``
  leaves out response parts the caller never reads.
* ``search(store, kind, body, stats=None) -> dict`` one search.
* ``composite_pages(store, kind, body, name="g")`` async iterator over every bucket of the
  composite aggregation ``name``, paging with ``after_key``.
* ``eql_search(store, kind, body, stats=None) -> dict`` (only where capabilities have EQL).
* ``get_doc(store, kind, doc_id) -> (index, source, seq_no, primary_term) | None`` by id over
  every index of a kind; ``replace_doc(...)`` compare-and-set write back.
* ``refresh(store, kinds)``; ``drop_kinds(store, kinds)`` deletes a prefix's indices of the
  given kinds (test harness and bench clean-up; never ``_delete_by_query``).
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import exceptions as es_exc

from ..errors import ConflictError, StoreError
from .client import Store, translate_error

__all__ = ["SearchStats", "msearch_kinds", "composite_buckets", "msearch",
           "search", "composite_pages", "eql_search", "get_doc", "replace_doc", "refresh",
           "drop_kinds"]

_TOLERANT = {"ignore_unavailable": True, "allow_no_indices": True}


@dataclass
class SearchStats:
    """Elasticsearch-side time (sum of ``took``) and the number of round trips (``requests``)."""

    took_ms: int = 0
    requests: int = 0
    searches: int = 0
    #: every request sent, kept only when ``record`` is true (bench replays them raw)
    record: bool = False
    log: list[list[tuple[str, dict[str, Any]]]] = field(default_factory=list)


    @property
    def round_trips(self) -> int:
        return self.requests


def _index(store: Store, kind: str) -> str:
    return store.names.read(kind)


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
    except Exception as exc:
        raise translate_error(exc, what) from exc
    answers = list(response.body.get("responses", []))
    out: list[dict[str, Any]] = []
    for position, ((kind, _), answer) in enumerate(zip(searches, answers, strict=True)):
        if "error" in answer:
            error = answer["error"]
            reason = error.get("reason") if isinstance(error, dict) else error
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
        answer = await search(store, kind, body, stats, what=what)
        result = (answer.get("aggregations") or {}).get("c") or {}
        buckets = result.get("buckets", [])
        for bucket in buckets:
            yield bucket
        after = result.get("after_key")
        if not buckets or after is None or len(buckets) < page_size:
            return


async def msearch(store: Store, requests: Sequence[tuple[str, dict[str, Any]]],
                  stats: SearchStats | None = None, *, raise_errors: bool = True,
                  filter_path: str | None = None) -> list[dict[str, Any]]:
    """With ``raise_errors=False`` a failed item comes back as ``{"error": {...}}`` in its
    position (the rule engine fails only the rule that sent it). ``filter_path`` (e.g.
    ``-**.key_as_string``) trims what Elasticsearch serializes and the client parses."""
    if not requests:
        return []
    lines: list[dict[str, Any]] = []
    for kind, body in requests:
        lines.append({"index": _index(store, kind), "ignore_unavailable": True,
                      "allow_no_indices": True})
        lines.append(body)
    try:
        response = await store.es.msearch(searches=lines, filter_path=filter_path)
    except Exception as exc:
        raise translate_error(exc, "msearch") from exc
    out = []
    for i, item in enumerate(response.body["responses"]):
        if "error" in item and not raise_errors:
            out.append({"error": item["error"] if isinstance(item["error"], dict)
                        else {"reason": str(item["error"])}})
            continue
        if "error" in item:
            error = item["error"]
            reason = error.get("reason") if isinstance(error, dict) else error
            caused = (error.get("caused_by") or {}).get("reason") if isinstance(error, dict) else ""
            raise StoreError(f"msearch item {i} ({requests[i][0]}): {reason} {caused or ''}".strip())
        out.append(item)
    if stats is not None:
        stats.requests += 1
        stats.searches += len(requests)
        stats.took_ms += int(response.body.get("took", 0))
        if stats.record:
            stats.log.append([(k, b) for k, b in requests])
    return out


async def search(store: Store, kind: str, body: dict[str, Any],
                 stats: SearchStats | None = None, *, what: str = "") -> dict[str, Any]:
    """One search over every index of ``kind`` (missing indices are empty, not errors);
    the response body, with its ``took`` counted in ``stats``."""
    try:
        response = await store.es.search(index=_index(store, kind), ignore_unavailable=True,
                                         allow_no_indices=True, **body)
    except Exception as exc:
        raise translate_error(exc, what or f"search {kind}") from exc
    if stats is not None:
        stats.requests += 1
        stats.searches += 1
        stats.took_ms += int(response.body.get("took", 0))
    return dict(response.body)


async def composite_pages(store: Store, kind: str, body: dict[str, Any],
                          name: str = "g") -> AsyncIterator[dict[str, Any]]:
    after = None
    while True:
        page = dict(body)
        aggs = dict(page["aggs"])
        comp = dict(aggs[name])
        comp["composite"] = {**comp["composite"], **({"after": after} if after else {})}
        aggs[name] = comp
        page["aggs"] = aggs
        response = await search(store, kind, page)
        agg = response["aggregations"][name]
        for bucket in agg["buckets"]:
            yield bucket
        after = agg.get("after_key")
        if not after or not agg["buckets"]:
            return


async def eql_search(store: Store, kind: str, body: dict[str, Any],
                     stats: SearchStats | None = None) -> dict[str, Any]:
    try:
        response = await store.es.eql.search(index=_index(store, kind), **body)
    except Exception as exc:
        raise translate_error(exc, f"eql {kind}") from exc
    if stats is not None:
        stats.requests += 1
        stats.searches += 1
        stats.took_ms += int(response.body.get("took", 0))
    return dict(response.body)


async def get_doc(store: Store, kind: str, doc_id: str
                  ) -> tuple[str, dict[str, Any], int, int] | None:
    body = {"size": 1, "seq_no_primary_term": True, "query": {"ids": {"values": [doc_id]}}}
    response = await search(store, kind, body)
    hits = response["hits"]["hits"]
    if not hits:
        return None
    hit = hits[0]
    return hit["_index"], hit["_source"], hit["_seq_no"], hit["_primary_term"]


async def replace_doc(store: Store, index: str, doc_id: str, source: dict[str, Any],
                      seq_no: int, primary_term: int) -> None:
    try:
        await store.es.index(index=index, id=doc_id, document=source, if_seq_no=seq_no,
                             if_primary_term=primary_term, refresh="wait_for")
    except es_exc.ConflictError as exc:
        raise ConflictError(f"{doc_id} changed since it was read; retry") from exc
    except Exception as exc:
        raise translate_error(exc, f"write {doc_id}") from exc


async def refresh(store: Store, kinds: Iterable[str]) -> None:
    try:
        await store.es.indices.refresh(index=",".join(_index(store, k) for k in kinds),
                                       ignore_unavailable=True, allow_no_indices=True)
    except Exception as exc:
        raise translate_error(exc, "refresh") from exc


async def drop_kinds(store: Store, kinds: Iterable[str]) -> None:
    for kind in kinds:
        try:
            await store.es.indices.delete(index=_index(store, kind), ignore_unavailable=True,
                                          allow_no_indices=True, expand_wildcards="open")
        except Exception as exc:
            raise translate_error(exc, f"delete {kind} indices") from exc
