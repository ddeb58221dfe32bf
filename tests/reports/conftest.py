"""Fixtures for the report tests: one seeded, read-only data set per session (fixed prefix, so
golden files can name it), and a throw-away output folder."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from monitor.settings import ElasticsearchSettings
from monitor.store import Store, open_store
from monitor.store.search import drop_prefix
from monitor.store.setup import install_templates

from . import fixtures

#: fixed so the golden files (which show the index prefix) are stable
GOLDEN_PREFIX = "t-reports-fixture"


@pytest.fixture(scope="session")
async def seeded(es_url: str) -> AsyncIterator[Store]:
    """The fixture data set of ``tests/reports/fixtures.py``; tests must not write to it."""
    store = open_store(ElasticsearchSettings(hosts=[es_url]), prefix=GOLDEN_PREFIX)
    await drop_prefix(store)
    await install_templates(store)
    await fixtures.seed(store)
    try:
        yield store
    finally:
        await drop_prefix(store)
        await store.close()


@pytest.fixture(scope="session")
async def report_data(seeded: Store):
    from monitor.reports.gather import gather_report

    return await gather_report(seeded, fixtures.PERIOD, fixtures.inputs(), fixtures.NOW)
