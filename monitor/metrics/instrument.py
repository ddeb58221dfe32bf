"""Time every Elasticsearch request of a store by API family (bounded ``operation`` label).

An observer on the store's transport (``store.client.ObservedTransport``) sees every call
(searches, bulk, state writes, health), so the store code knows nothing of metrics.
"""
from __future__ import annotations

from ..store import Store
from .definitions import Metrics, es_operation

__all__ = ["instrument_store"]


def instrument_store(store: Store, metrics: Metrics) -> None:
    """Time every Elasticsearch request by API family; count those that got no answer or a 5xx."""
    duration, errors = metrics.es_request_duration, metrics.es_request_errors

    def observe(method: str, target: str, seconds: float, error: BaseException | None) -> None:
        operation = es_operation(method, target)
        if error is not None:
            status = getattr(getattr(error, "meta", None), "status", None)
            if status is None or status >= 500:
                errors.labels(operation=operation).inc()
        duration.labels(operation=operation).observe(seconds)

    store.observe(observe)
