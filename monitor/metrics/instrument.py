"""Time every Elasticsearch request of a store by API family (bounded ``operation`` label).

Wraps the transport's ``perform_request`` of one client, so every call (searches, bulk,
state writes, health) is measured without touching the store code.
"""
from __future__ import annotations

import functools
import time
from typing import Any

from ..store import Store
from .definitions import Metrics, es_operation

__all__ = ["instrument_store"]


def instrument_store(store: Store, metrics: Metrics) -> None:
    """Time every Elasticsearch request by API family (bounded ``operation`` label)."""
    transport = store.es.transport
    original = transport.perform_request
    duration, errors = metrics.es_request_duration, metrics.es_request_errors

    @functools.wraps(original)
    async def timed(method: str, target: str, *args: Any, **kwargs: Any) -> Any:
        operation = es_operation(method, target)
        started = time.perf_counter()
        try:
            response = await original(method, target, *args, **kwargs)
        except Exception as exc:
            status = getattr(getattr(exc, "meta", None), "status", None)
            if status is None or status >= 500:
                errors.labels(operation=operation).inc()
            raise
        finally:
            duration.labels(operation=operation).observe(time.perf_counter() - started)
        return response

    transport.perform_request = timed  # type: ignore[method-assign]
