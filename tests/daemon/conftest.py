"""Fixtures for process-level daemon tests: a unique index prefix cleaned up afterwards."""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest


@pytest.fixture
def daemon_prefix(es_url: str) -> Iterator[str]:
    prefix = f"t-d{uuid.uuid4().hex[:8]}"
    yield prefix
    with httpx.Client(base_url=es_url, timeout=60) as client:
        client.delete(f"/{prefix}-*", params={"ignore_unavailable": "true",
                                              "allow_no_indices": "true",
                                              "expand_wildcards": "all"})
        client.delete(f"/_index_template/{prefix}-*")


def es_count(es_url: str, index: str, query: dict | None = None) -> int:
    with httpx.Client(base_url=es_url, timeout=60) as client:
        client.post(f"/{index}/_refresh", params={"ignore_unavailable": "true",
                                                  "allow_no_indices": "true"})
        response = client.post(f"/{index}/_count", params={"ignore_unavailable": "true",
                                                           "allow_no_indices": "true"},
                               json={"query": query or {"match_all": {}}})
        response.raise_for_status()
        return int(response.json()["count"])
