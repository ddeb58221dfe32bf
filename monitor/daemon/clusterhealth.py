"""Elasticsearch cluster health as the daemon reports it: on ``/readyz`` and as metrics.

Why a separate view from "reachable": on a multi-node cluster a lost node leaves the cluster
yellow (replicas unassigned) while every write still succeeds. The daemon stays ready (its
receivers must stay in the load balancer), but an operator must see that one more loss would
cost data, so the status, the node count and the unassigned shards are exported.
"""
from __future__ import annotations

from typing import Any

from ..errors import StoreError
from ..metrics.definitions import ES_CLUSTER_STATUSES, Metrics
from ..store import Store

__all__ = ["cluster_health"]


async def cluster_health(store: Store | None, metrics: Metrics) -> tuple[bool, dict[str, Any]]:
    """(usable, details): usable means yellow or green; details go to ``/readyz``."""
    body: dict[str, Any] = {}
    if store is not None:
        try:
            body = await store.health(timeout="1s")
        except StoreError as exc:
            body = {"error": str(exc)}
    status = str(body.get("status") or "unreachable")
    if status not in ES_CLUSTER_STATUSES:
        status = "unreachable"
    usable = status in ("green", "yellow") and not body.get("timed_out", False)
    for known in ES_CLUSTER_STATUSES:
        metrics.es_cluster_status.labels(status=known).set(1 if known == status else 0)
    metrics.es_up.set(1 if usable else 0)
    details: dict[str, Any] = {"status": status, "degraded": status != "green"}
    if "number_of_nodes" in body:
        metrics.es_nodes.set(body["number_of_nodes"])
        metrics.es_unassigned_shards.set(body.get("unassigned_shards", 0))
        details.update(nodes=body["number_of_nodes"], data_nodes=body.get("number_of_data_nodes"),
                       unassigned_shards=body.get("unassigned_shards", 0))
    return usable, details
