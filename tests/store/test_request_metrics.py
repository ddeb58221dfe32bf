"""Request metrics come from an observer on the client's transport, not a patched method."""
from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from monitor.errors import StoreError
from monitor.metrics.definitions import Metrics
from monitor.metrics.instrument import instrument_store
from monitor.settings import ElasticsearchSettings
from monitor.store import Store, open_store
from monitor.store.client import ObservedTransport
from monitor.store.search import search


async def test_every_request_is_timed_through_the_transport_seam(store: Store) -> None:
    registry = CollectorRegistry()
    instrument_store(store, Metrics(registry, "test"))
    transport = store.es.transport
    assert isinstance(transport, ObservedTransport)
    assert "perform_request" not in vars(transport)  # no instance attribute patched over it
    await search(store, "events", {"size": 0})
    await store.es.options(request_timeout=5).cluster.health()  # options() shares the transport

    def count(operation: str) -> float:
        value = registry.get_sample_value("monitor_es_request_duration_seconds_count",
                                          {"operation": operation})
        return value or 0.0

    assert count("search") == 1 and count("health") == 1


async def test_a_request_without_an_answer_counts_as_an_error() -> None:
    nowhere = open_store(ElasticsearchSettings(hosts=["http://127.0.0.1:9"],
                                               request_timeout_seconds=5))
    registry = CollectorRegistry()
    instrument_store(nowhere, Metrics(registry, "test"))
    try:
        with pytest.raises(StoreError):
            await search(nowhere, "events", {"size": 0})
    finally:
        await nowhere.close()
    assert registry.get_sample_value("monitor_es_request_errors_total",
                                     {"operation": "search"}) == 1
