"""Search helpers for the rule engine, findings and compliance (one small function per need).

* ``msearch(store, requests, stats=None) -> list[dict]`` one ``_msearch`` round trip for
  ``[(kind, body), ...]`` (kind: an index kind such as ``events``); returns response bodies in
  order; a failed item raises ``StoreError`` naming its position. ``stats`` (a ``SearchStats``)
  accumulates round trips and Elasticsearch's own ``took``.
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

__all__ = ["SearchStats", "msearch", "search", "composite_pages", "eql_search", "get_doc",
           "replace_doc", "refresh", "drop_kinds"]


@dataclass
class SearchStats:
    round_trips: int = 0
    searches: int = 0
    took_ms: int = 0
    #: every request sent, kept only when ``record`` is true (bench replays them raw)
    record: bool = False
    log: list[list[tuple[str, dict[str, Any]]]] = field(default_factory=list)


def _index(store: Store, kind: str) -> str:
    return store.names.read(kind)


async def msearch(store: Store, requests: Sequence[tuple[str, dict[str, Any]]],
                  stats: SearchStats | None = None) -> list[dict[str, Any]]:
    if not requests:
        return []
    lines: list[dict[str, Any]] = []
    for kind, body in requests:
        lines.append({"index": _index(store, kind), "ignore_unavailable": True,
                      "allow_no_indices": True})
        lines.append(body)
    try:
        response = await store.es.msearch(searches=lines)
    except Exception as exc:  # noqa: BLE001 - translated
        raise translate_error(exc, "msearch") from exc
    out = []
    for i, item in enumerate(response.body["responses"]):
        if "error" in item:
            error = item["error"]
            reason = error.get("reason") if isinstance(error, dict) else error
            caused = (error.get("caused_by") or {}).get("reason") if isinstance(error, dict) else ""
            raise StoreError(f"msearch item {i} ({requests[i][0]}): {reason} {caused or ''}".strip())
        out.append(item)
    if stats is not None:
        stats.round_trips += 1
        stats.searches += len(requests)
        stats.took_ms += int(response.body.get("took", 0))
        if stats.record:
            stats.log.append([(k, b) for k, b in requests])
    return out


async def search(store: Store, kind: str, body: dict[str, Any],
                 stats: SearchStats | None = None) -> dict[str, Any]:
    try:
        response = await store.es.search(index=_index(store, kind), ignore_unavailable=True,
                                         allow_no_indices=True, **body)
    except Exception as exc:  # noqa: BLE001
        raise translate_error(exc, f"search {kind}") from exc
    if stats is not None:
        stats.round_trips += 1
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
    except Exception as exc:  # noqa: BLE001
        raise translate_error(exc, f"eql {kind}") from exc
    if stats is not None:
        stats.round_trips += 1
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
    except Exception as exc:  # noqa: BLE001
        raise translate_error(exc, f"write {doc_id}") from exc


async def refresh(store: Store, kinds: Iterable[str]) -> None:
    try:
        await store.es.indices.refresh(index=",".join(_index(store, k) for k in kinds),
                                       ignore_unavailable=True, allow_no_indices=True)
    except Exception as exc:  # noqa: BLE001
        raise translate_error(exc, "refresh") from exc


async def drop_kinds(store: Store, kinds: Iterable[str]) -> None:
    for kind in kinds:
        try:
            await store.es.indices.delete(index=_index(store, kind), ignore_unavailable=True,
                                          allow_no_indices=True, expand_wildcards="open")
        except Exception as exc:  # noqa: BLE001
            raise translate_error(exc, f"delete {kind} indices") from exc
