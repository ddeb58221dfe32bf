"""Shared fixtures: one real Elasticsearch per session, a fresh index prefix per test.

Set ``MONITOR_TEST_ES_URL`` to reuse a running node (the developer loop and CI start one with
``scripts/elasticsearch start``); otherwise the session starts its own and stops it at the end.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.settings import ElasticsearchSettings
from monitor.store import Store, open_store
from monitor.store.search import drop_prefix
from monitor.store.setup import install_templates

ROOT = Path(__file__).resolve().parent.parent
SHARED = next((p for p in (Path(os.environ.get("MONITOR_SHARED_DIR", "/nonexistent")),
                          ROOT.parent / "shared", Path("/work/shared")) if p.is_dir()),
              ROOT.parent / "shared")


@pytest.fixture(scope="session")
def es_url() -> Iterator[str]:
    url = os.environ.get("MONITOR_TEST_ES_URL")
    if url:
        yield url.rstrip("/")
        return
    name = f"pytest-{os.getpid()}"
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "elasticsearch"), "start",
                          "--name", name, "--json"], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        pytest.fail(f"could not start Elasticsearch: {out.stderr[-2000:]}")
    record = json.loads(out.stdout)
    try:
        yield record["url"]
    finally:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "elasticsearch"), "stop",
                        "--name", name], check=False)


@pytest.fixture
def es_prefix() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def es_settings(es_url: str) -> ElasticsearchSettings:
    return ElasticsearchSettings(hosts=[es_url])


@pytest.fixture
async def store(es_settings: ElasticsearchSettings, es_prefix: str) -> AsyncIterator[Store]:
    """A store with templates installed under a unique prefix; its indices are deleted after."""
    s = open_store(es_settings, prefix=es_prefix)
    await install_templates(s)
    await s.detect()
    try:
        yield s
    finally:
        await drop_prefix(s)
        await s.close()


@pytest.fixture
def wiring_context(store: Store) -> Callable[[Any], Any]:
    """``make(settings)``: a daemon wiring ``Context`` over the test's real store (plain
    writers, a fresh metrics registry), for tests that wire one source and run its job."""
    from prometheus_client import CollectorRegistry

    from monitor.daemon.components import Context
    from monitor.metrics.definitions import Metrics
    from monitor.store import BulkWriter, StateStore

    def make(settings: Any) -> Context:
        return Context(settings=settings, store=store, writer=BulkWriter(store),
                       state=StateStore(store), metrics=Metrics(CollectorRegistry(), "test"),
                       positions=None, instance_id="t", is_active=lambda: True,
                       writer_for=lambda name: BulkWriter(store))
    return make


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"shared reference folder missing at {SHARED}")
    return SHARED
