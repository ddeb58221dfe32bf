"""Every control's fixtures (documents in, expected status out) against the real Elasticsearch.

One index prefix for the whole module: fixtures isolate themselves with a label filter, so the
node sees no index creation or deletion per fixture.
"""
from __future__ import annotations

import uuid

import pytest

from monitor.compliance import load_controls, load_sources
from monitor.compliance.fixtures import run_control_fixtures
from monitor.inventory import load_inventory
from monitor.resources import rules_dir
from monitor.settings import ElasticsearchSettings
from monitor.store import open_store
from monitor.store.search import drop_prefix
from monitor.store.setup import install_templates

SOURCES = load_sources()
CONTROLS = [c for c in load_controls(sources=SOURCES) if c.mode == "automated"]
INVENTORY = load_inventory(rules_dir() / "inventory.example.yaml")


@pytest.fixture(scope="module")
async def shared_store(es_url: str):
    prefix = f"t-cfx-{uuid.uuid4().hex[:8]}"
    store = open_store(ElasticsearchSettings(hosts=[es_url]), prefix=prefix)
    await install_templates(store)
    try:
        yield store
    finally:
        await drop_prefix(store)
        await store.close()


@pytest.mark.parametrize("control", CONTROLS, ids=[c.id for c in CONTROLS])
async def test_control_fixtures(shared_store, control) -> None:
    outcomes = await run_control_fixtures(shared_store, control, SOURCES, INVENTORY)
    assert len(outcomes) == len(control.fixtures) >= 2
    bad = [f"{o.fixture}: expected {o.expected}"
           f"{'' if o.expected_failed is None else f' ({o.expected_failed} failed)'}, got {o.got} "
           f"({o.failed_count} failed): {o.reason}" for o in outcomes if not o.ok]
    assert not bad, "\n".join(bad)
