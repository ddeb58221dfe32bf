"""Read helpers: one search, a batch of searches, a paged composite aggregation.

Callers build query bodies (pure functions elsewhere) and hand them here; only this module
sends them. Every helper tolerates missing indices (a fresh install answers empty, not 404)
and can add Elasticsearch's own ``took`` to a :class:`SearchStats` so a caller can report how
much of its time was spent inside Elasticsearch.

* ``search``, ``msearch``, ``composite_buckets`` (reports, compliance, rules): see below.

Helpers used by the rule engine and findings (one small function per need):

* ``msearch(store, requests, stats=None, filter_path=None) -> list[dict]`` one ``_msearch``
  round trip for ``[(kind, body), ...]`` (kind: an index kind such as ``events``); returns
  response bodies in order; a failed item raises ``StoreError`` naming its position. ``stats``
  (a ``SearchStats``) accumulates round trips and Elasticsearch's own ``took``; ``filter_path``
  leaves out response parts the caller never reads.
* ``search(store, kind, body, stats=None) -> dict`` one search.
* ``composite_buckets(store, kind, query, sources, ...)`` async iterator over every bucket of
  a composite aggregation, paging with ``after_key``.
* ``eql_search(store, kind, body, stats=None) -> dict`` (only where capabilities have EQL).
* ``get_doc(store, kind, doc_id) -> Hit(index, source, seq_no, primary_term) | None`` by id over
  every index of a kind; ``replace_doc(...)`` compare-and-set write back.
* ``refresh(store, kinds)``; ``drop_kinds(store, kinds)`` deletes a prefix's indices of the
  given kinds (test harness and bench clean-up; never ``_delete_by_query``); ``drop_prefix``
  deletes every index and template of the store's prefix.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from elasticsearch import exceptions as es_exc

from ..errors import ConflictError, StoreError
from .client import Store, translate_error

__all__ = ["Hit", "SearchStats", "composite_buckets", "drop_kinds", "drop_prefix", "eql_search",
           "get_doc", "msearch", "refresh", "replace_doc", "search"]

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
                  filter_path: str | None = None, what: str = "msearch",
                  timeout: float | None = None) -> list[dict[str, Any]]:
    """The one ``_msearch``: ``[(kind, body), ...]`` in one round trip, answers in order.

    With ``raise_errors=False`` a failed item comes back as ``{"error": {...}}`` in its
    position (the rule engine fails only the rule that sent it); otherwise ``StoreError``
    names ``what``, the position and the kind. ``filter_path`` (e.g. ``-**.key_as_string``)
    trims what Elasticsearch serializes and the client parses; ``timeout`` (seconds) replaces
    the client's request timeout for a batch that answers many searches."""
    if not requests:
        return []
    lines: list[dict[str, Any]] = []
    for kind, body in requests:
        lines.append({"index": _index(store, kind), "ignore_unavailable": True,
                      "allow_no_indices": True})
        lines.append(body)
    client = store.es.options(request_timeout=timeout) if timeout is not None else store.es
    try:
        response = await client.msearch(searches=lines, filter_path=filter_path)
    except Exception as exc:
        raise translate_error(exc, what) from exc
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
            raise StoreError(f"{what} item {i} ({requests[i][0]}): {reason} {caused or ''}".strip())
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


class Hit(NamedTuple):
    """One document as stored: where, what, and its version for a compare-and-set write."""

    index: str  # type: ignore[assignment]  # shadows tuple.index: the name Elasticsearch uses
    source: dict[str, Any]
    seq_no: int
    primary_term: int


async def get_doc(store: Store, kind: str, doc_id: str) -> Hit | None:
    """The one get: a document by id over every index of ``kind`` (dated or not), or None."""
    body = {"size": 1, "seq_no_primary_term": True, "query": {"ids": {"values": [doc_id]}}}
    response = await search(store, kind, body, what=f"read {kind}/{doc_id}")
    hits = response["hits"]["hits"]
    if not hits:
        return None
    hit = hits[0]
    return Hit(hit["_index"], dict(hit["_source"]), hit["_seq_no"], hit["_primary_term"])


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


async def drop_prefix(store: Store) -> None:
    """Delete every index and index template of the store's prefix: the throw-away prefixes of
    rule and control fixture runs, tests and benchmarks. Never ``_delete_by_query``."""
    prefix = store.names.prefix
    if not prefix or any(c in prefix for c in "*,?"):
        raise StoreError(f"refusing to drop the indices of prefix {prefix!r}")
    try:
        await store.es.indices.delete(index=f"{prefix}-*", ignore_unavailable=True,
                                      allow_no_indices=True, expand_wildcards="all")
        await store.es.options(ignore_status=404).indices.delete_index_template(
            name=f"{prefix}-*")
    except Exception as exc:
        raise translate_error(exc, f"drop {prefix}-*") from exc
