"""One index prefix per test module (installing templates costs seconds on a loaded machine);
``dstore`` hands each test the module's store with events, changes and findings dropped."""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from monitor.settings import ElasticsearchSettings
from monitor.store import Store, open_store
from monitor.store.search import drop_kinds, drop_prefix
from monitor.store.setup import install_templates


@pytest.fixture(scope="module")
async def module_store(es_url: str) -> AsyncIterator[Store]:
    prefix = f"t-det-{uuid.uuid4().hex[:8]}"
    store = open_store(ElasticsearchSettings(hosts=[es_url]), prefix=prefix)
    await install_templates(store)
    await store.detect()
    try:
        yield store
    finally:
        await drop_prefix(store)
        await store.close()


@pytest.fixture
async def dstore(module_store: Store) -> Store:
    await drop_kinds(module_store, ("events", "changes", "findings"))
    return module_store
