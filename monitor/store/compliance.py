"""Store helpers for the compliance side (controls, inventory): aggregations and replace-writes.

Kept apart from ``search.py`` (the threat engine's helpers) so two people editing a shared
working tree never commit each other's half-done changes. Every function translates
Elasticsearch errors into ``monitor.errors`` types.

* ``aggregate_many(store, [(kind, body), ...]) -> [response, ...]``: ``size: 0`` bodies
  (aggregations only; nothing is downloaded) through ``search.msearch``.
* ``put_documents(store, kind, [(id, source), ...], refresh=False) -> int``: index-or-replace
  (``op_type=index``), for documents whose content legitimately changes under a stable id
  (a control re-evaluated for the same period, the inventory snapshot).
* ``get_document(store, kind, id)`` (the source of ``search.get_doc``) and
  ``search_documents(store, kind, query, size, sort)``
  for small result sets (compliance results of one period, inventory items).
"""
from __future__ import annotations

from typing import Any

import orjson

from ..errors import StoreError
from .client import Store, translate_error
from .search import get_doc, msearch

__all__ = ["MSEARCH_TIMEOUT_SECONDS", "aggregate_many", "get_document",
           "put_documents", "search_documents"]

#: time allowed for one batched compliance ``_msearch`` (up to 100 aggregation searches)
MSEARCH_TIMEOUT_SECONDS = 120.0


async def aggregate_many(store: Store, requests: list[tuple[str, dict[str, Any]]]
                         ) -> list[dict[str, Any]]:
    """Run ``size: 0`` searches (by index kind) in one ``_msearch``; raise on any failure."""
    bodies = [(kind, {"size": 0, "track_total_hits": True, **body}) for kind, body in requests]
    # one request answers every control: give it more time than a single search gets
    timeout = max(store.settings.request_timeout_seconds, MSEARCH_TIMEOUT_SECONDS)
    return await msearch(store, bodies, what="compliance msearch", timeout=timeout)


async def put_documents(store: Store, kind: str, docs: list[tuple[str, dict[str, Any]]],
                        *, refresh: bool = False) -> int:
    """Index (create or replace) documents with stable ids; return how many were written."""
    if not docs:
        return 0
    lines: list[bytes] = []
    for doc_id, source in docs:
        index = store.names.write(kind, source.get("@timestamp"))
        lines.append(orjson.dumps({"index": {"_index": index, "_id": doc_id}}))
        lines.append(orjson.dumps(source, option=orjson.OPT_NON_STR_KEYS))
    try:
        response = await store.es.bulk(
            operations=b"\n".join(lines) + b"\n",  # type: ignore[arg-type]  # NDJSON bytes
            refresh="wait_for" if refresh else False)
    except Exception as exc:
        raise translate_error(exc, f"write {kind}") from exc
    if response.body.get("errors"):
        bad = [next(iter(i.values())) for i in response.body["items"]
               if next(iter(i.values())).get("error")]
        raise StoreError(f"write {kind}: {len(bad)} documents rejected: "
                         f"{bad[0].get('error', {}).get('reason', bad[0].get('error'))}")
    return len(docs)


async def get_document(store: Store, kind: str, doc_id: str) -> dict[str, Any] | None:
    """A document's source by id (inventory, state, reports), or None."""
    hit = await get_doc(store, kind, doc_id)
    return hit.source if hit else None


async def search_documents(store: Store, kind: str, query: dict[str, Any], *, size: int = 1000,
                           sort: list[Any] | None = None) -> list[dict[str, Any]]:
    """Small result sets only (``size`` ≤ 10 000): e.g. one period's compliance results."""
    try:
        response = await store.es.search(index=store.names.read(kind), size=min(size, 10_000),
                                         query=query, sort=sort or ["_doc"],
                                         ignore_unavailable=True, allow_no_indices=True)
    except Exception as exc:
        raise translate_error(exc, f"search {kind}") from exc
    return [dict(hit["_source"]) | {"_id": hit["_id"]} for hit in response.body["hits"]["hits"]]

