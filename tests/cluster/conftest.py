"""The ``cluster`` group: a real 3-node Elasticsearch started here (``scripts/elasticsearch
start --nodes 3``, 512 MiB heap per node, for a 2-core machine) and stopped at the end.

It does not use ``MONITOR_TEST_ES_URL``: these tests kill and restart nodes, which must never
happen to the shared node other tests use. Deselect with ``-m "not cluster"``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the tests import tests.daemon.procs (the process helpers)
    sys.path.insert(0, str(ROOT))
SCRIPT = str(ROOT / "scripts" / "elasticsearch")


def es_script(*args: str, timeout: float = 700) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                          check=False, timeout=timeout)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.cluster)


class Cluster:
    """A running cluster: its record from the script, and node-level controls."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        self.name = record["name"]
        self.urls: list[str] = record["urls"]

    def client(self, node: int | None = None) -> httpx.Client:
        """A client to a live node (the first that answers unless ``node`` is given)."""
        urls = [self.urls[node - 1]] if node else self.urls
        deadline = time.monotonic() + 120  # a loaded machine answers slowly, not never
        while True:
            for url in urls:
                try:
                    httpx.get(f"{url}/_cluster/health", timeout=30).raise_for_status()
                    return httpx.Client(base_url=url, timeout=120)
                except httpx.HTTPError:
                    continue
            if time.monotonic() > deadline:
                raise AssertionError("no node of the cluster answers")
            time.sleep(1)

    def health(self, **params: str) -> dict[str, Any]:
        with self.client() as client:
            return client.get("/_cluster/health", params=params).json()

    def master(self) -> int:
        with self.client() as client:
            name = client.get("/_cat/master", params={"format": "json"}).json()[0]["node"]
        return int(name.rsplit("-", 1)[1])

    def kill(self, node: int) -> None:
        out = es_script("kill-node", "--name", self.name, "--node", str(node))
        assert out.returncode == 0, out.stderr

    def restart(self, node: int) -> None:
        out = es_script("start-node", "--name", self.name, "--node", str(node), "--wait", "600",
                        timeout=700)
        assert out.returncode == 0, out.stderr

    def heal(self) -> None:
        """Bring every node back (a test that failed half-way must not poison the next)."""
        for index, member in enumerate(self.record["nodes"], start=1):
            try:
                httpx.get(f"{member['url']}/_cluster/health", timeout=30).raise_for_status()
            except httpx.HTTPError:
                self.restart(index)

    def count(self, index: str) -> int:
        with self.client() as client:
            client.post(f"/{index}/_refresh", params={"ignore_unavailable": "true",
                                                      "allow_no_indices": "true"})
            response = client.post(f"/{index}/_count", params={"ignore_unavailable": "true",
                                                               "allow_no_indices": "true"})
            response.raise_for_status()
            return int(response.json()["count"])


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    reuse = os.environ.get("MONITOR_TEST_CLUSTER")  # developer loop: a cluster started by hand
    if reuse:
        out = es_script("status", "--name", reuse, "--json")
        assert out.returncode == 0, f"MONITOR_TEST_CLUSTER={reuse}: {out.stderr}"
        yield Cluster(json.loads(out.stdout))
        return
    name = f"pytest-cluster-{os.getpid()}"
    out = es_script("start", "--name", name, "--nodes", "3", "--heap", "512m", "--json",
                    "--wait", "600", timeout=700)
    if out.returncode != 0:
        es_script("stop", "--name", name)
        pytest.fail(f"could not start a 3-node cluster: {out.stderr[-3000:]}")
    try:
        yield Cluster(json.loads(out.stdout))
    finally:
        es_script("stop", "--name", name)


@pytest.fixture
def cluster_prefix(cluster: Cluster) -> Iterator[str]:
    prefix = f"t-c{uuid.uuid4().hex[:8]}"
    yield prefix
    cluster.heal()
    with cluster.client() as client:
        client.delete(f"/{prefix}-*", params={"ignore_unavailable": "true",
                                              "allow_no_indices": "true",
                                              "expand_wildcards": "all"})
        client.delete(f"/_index_template/{prefix}-*")
