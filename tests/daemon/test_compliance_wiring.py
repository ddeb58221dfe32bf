"""The daemon's compliance job: the configured inventory file is used (and a bad one refuses the
start), and yesterday is settled once with complete data besides today's evaluation."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from monitor.daemon.adapters import _wire_compliance
from monitor.daemon.components import Components, Context
from monitor.errors import RuleError
from monitor.metrics.definitions import Metrics
from monitor.settings import settings_from_dict
from monitor.store.search import refresh, search

ROOT = Path(__file__).resolve().parents[2]


def _context(store, inventory_file: Path) -> Context:
    settings = settings_from_dict({"rules": {"inventory_file": str(inventory_file)}})
    return Context(settings=settings, store=store, writer=None, state=None,  # type: ignore[arg-type]  # parts the compliance wire never uses
                   metrics=Metrics(CollectorRegistry(), "test"), positions=None,  # type: ignore[arg-type]  # parts the compliance wire never uses
                   instance_id="t", is_active=lambda: True, writer_for=lambda name: None)  # type: ignore[arg-type,return-value]  # as above


def test_bad_inventory_file_refuses_to_build(tmp_path):
    bad = tmp_path / "inventory.yaml"
    bad.write_text("cde_networks: [not-a-network]\nsurprise: 1\n")
    with pytest.raises(RuleError):
        _wire_compliance(_context(None, bad), Components())


async def test_job_settles_yesterday_once_and_evaluates_today(store):
    components = Components()
    _wire_compliance(_context(store, ROOT / "rules" / "inventory.example.yaml"), components)
    job = next(j for j in components.jobs if j.kind == "compliance")
    today = datetime.now(UTC).date()
    yesterday = str(today - timedelta(days=1))

    async def evaluated_at_by_day() -> dict[str, str]:
        await refresh(store, ["compliance"])
        answer = await search(store, "compliance", {"size": 0, "aggs": {
            "starts": {"terms": {"field": "control.period.start", "size": 10},
                       "aggs": {"at": {"max": {"field": "control.evaluated_at"}}}}}})
        return {b["key_as_string"][:10]: b["at"]["value_as_string"]
                for b in answer["aggregations"]["starts"]["buckets"]}

    await job.func()
    first = await evaluated_at_by_day()
    await job.func()  # second run: today again, yesterday not again
    second = await evaluated_at_by_day()
    assert {yesterday, str(today)} <= set(first)
    assert second[yesterday] == first[yesterday]  # settled once, not re-evaluated
    assert second[str(today)] > first[str(today)]
