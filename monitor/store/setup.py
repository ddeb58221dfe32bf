"""Install/upgrade templates idempotently, report their status, and apply retention."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from elasticsearch import exceptions as es_exc

from .client import Store, translate_error
from .indices import DATED_KINDS, template_bodies

__all__ = ["TemplateStatus", "install_templates", "template_status", "apply_retention",
           "ensure_single_indices", "replicas_for"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TemplateStatus:
    name: str
    action: str  # created | updated | unchanged | missing | outdated


async def _existing(store: Store) -> dict[str, dict[str, Any]]:
    try:
        response = await store.es.indices.get_index_template(name=f"{store.names.prefix}-*")
    except es_exc.NotFoundError:
        return {}
    except Exception as exc:
        raise translate_error(exc, "read templates") from exc
    return {t["name"]: t["index_template"] for t in response.get("index_templates", [])}


async def replicas_for(store: Store) -> int:
    """The replica count our templates ask for.

    The configured value when set; otherwise 1 on a cluster with more than one data node (a
    node's loss then loses no acknowledged event) and 0 on a single node, where a replica could
    never be assigned and would keep the cluster yellow.
    """
    if store.settings.number_of_replicas is not None:
        return store.settings.number_of_replicas
    try:
        health = await store.es.cluster.health()
    except Exception as exc:
        raise translate_error(exc, "count data nodes") from exc
    data_nodes = int(health.get("number_of_data_nodes", 1))
    replicas = 1 if data_nodes > 1 else 0
    log.info("%d data node(s): index templates use %d replica(s)", data_nodes, replicas)
    return replicas


async def template_status(store: Store, replicas: int | None = None) -> list[TemplateStatus]:
    if replicas is None:
        replicas = await replicas_for(store)
    wanted = template_bodies(store.names, store.settings.number_of_shards, replicas)
    existing = await _existing(store)
    statuses = []
    for name, body in wanted.items():
        have = existing.get(name)
        if have is None:
            statuses.append(TemplateStatus(name, "missing"))
        elif (have.get("_meta") or {}).get("hash") != body["_meta"]["hash"]:
            statuses.append(TemplateStatus(name, "outdated"))
        else:
            statuses.append(TemplateStatus(name, "unchanged"))
    return statuses


async def install_templates(store: Store) -> list[TemplateStatus]:
    """Put every template whose content hash differs; unchanged ones are not touched."""
    replicas = await replicas_for(store)
    wanted = template_bodies(store.names, store.settings.number_of_shards, replicas)
    result = []
    for status in await template_status(store, replicas):
        if status.action == "unchanged":
            result.append(status)
            continue
        body = wanted[status.name]
        try:
            await store.es.indices.put_index_template(name=status.name, **body)
        except Exception as exc:
            raise translate_error(exc, f"install template {status.name}") from exc
        result.append(TemplateStatus(status.name, "created" if status.action == "missing"
                                     else "updated"))
    await ensure_single_indices(store)
    return result


async def ensure_single_indices(store: Store) -> None:
    """Create the non-dated indices (state, reports, inventory) so reads never 404."""
    for index in (store.names.state, store.names.reports, store.names.inventory):
        try:
            await store.es.indices.create(index=index)
        except es_exc.BadRequestError as exc:
            if "resource_already_exists_exception" not in str(exc):
                raise translate_error(exc, f"create {index}") from exc
        except Exception as exc:
            raise translate_error(exc, f"create {index}") from exc


async def apply_retention(store: Store, keep_months: dict[str, int],
                          now: datetime | None = None) -> list[str]:
    """Delete whole monthly indices older than the retention of their kind; return their names."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    current = now.year * 12 + now.month - 1
    deleted: list[str] = []
    for kind, months in keep_months.items():
        if kind not in DATED_KINDS:
            raise ValueError(f"retention applies to dated kinds only, not {kind!r}")
        try:
            response = await store.es.indices.get(index=store.names.read(kind),
                                                  allow_no_indices=True, expand_wildcards="open")
        except Exception as exc:
            raise translate_error(exc, f"list {kind} indices") from exc
        for index in sorted(response.body):
            month = store.names.month_of_index(index, kind)
            if month is None:
                continue
            age = current - (month[0] * 12 + month[1] - 1)
            if age >= months:
                try:
                    await store.es.indices.delete(index=index)
                except Exception as exc:
                    raise translate_error(exc, f"delete {index}") from exc
                log.info("retention: deleted %s (%d months old, keep %d)", index, age, months)
                deleted.append(index)
    return deleted
