"""Run a control's fixtures (documents in, expected status out) against a real Elasticsearch.

Each fixture's documents carry ``labels.fixture`` = a fresh id and evaluation is scoped to it
(an extra filter on every search), so fixtures share indices without seeing each other and no
index is created or deleted per fixture (cluster-state changes are slow on a busy node). Use a
throw-away prefix all the same: tests do, ``monitor compliance test`` makes one. The period is
2026-11-24T00:00Z + 1 day,
and the example inventory (``rules/inventory.example.yaml``) with the fixture's ``inventory``
keys replaced. Unless ``fill: false``, every data source of the control except those listed in
``silent`` is filled with its heartbeat documents in every bucket, so a fixture only writes
what it is about.

    await run_fixture(store, control, fixture, sources, base_inventory) -> FixtureOutcome
    await run_control_fixtures(store, control, sources, base_inventory) -> list[FixtureOutcome]
"""
from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from ..inventory.load import inventory_from_dict
from ..inventory.model import Inventory
from ..model import ControlResult
from ..store import Store
from ..store.compliance import put_documents
from ..store.search import refresh
from .catalogue import Catalogue, Requirement
from .controls import Control, Fixture, Source
from .queries import duration, iso
from .run import evaluate_period

__all__ = [
    "FIXTURE_END",
    "FIXTURE_START",
    "FixtureOutcome",
    "heartbeat_documents",
    "resolve_times",
    "run_control_fixtures",
    "run_fixture",
]

FIXTURE_START = datetime(2026, 11, 24, tzinfo=UTC)
FIXTURE_END = FIXTURE_START + timedelta(days=1)
_RELATIVE = re.compile(r"^([+-])((?:\d+(?:\.\d+)?[smhd])+)$")
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_KINDS = ("events", "changes", "findings", "deadletter", "inventory")


@dataclass(frozen=True, slots=True)
class FixtureOutcome:
    control: str
    fixture: str
    expected: str
    got: str
    reason: str
    failed_count: int
    expected_failed: int | None

    @property
    def ok(self) -> bool:
        return self.expected == self.got and (self.expected_failed is None
                                              or self.expected_failed == self.failed_count)


def resolve_times(value: Any, base: datetime) -> Any:
    """``+2h`` / ``-3d`` / ``+2h30m`` strings anywhere in a document → ISO timestamps relative to ``base``."""
    if isinstance(value, dict):
        return {k: resolve_times(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_times(v, base) for v in value]
    if isinstance(value, str):
        match = _RELATIVE.match(value)
        if match:
            sign, parts = match.groups()
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(parts))
            seconds *= 1 if sign == "+" else -1
            return iso(base + timedelta(seconds=seconds))
    return value


def _doc_id(kind: str, source: dict[str, Any], n: int) -> str:
    return hashlib.sha256(kind.encode() + orjson.dumps(source, option=orjson.OPT_SORT_KEYS)
                          + str(n).encode()).hexdigest()[:32]


def heartbeat_documents(sources: list[Source], start: datetime, end: datetime
                        ) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, id, doc): each source's heartbeat documents in the middle of every bucket."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for source in sources:
        step = duration(source.interval)
        moment = start
        while moment < end:
            stamp = iso(moment + step / 2)
            for n, template in enumerate(source.heartbeat):
                doc = {**template, "@timestamp": stamp, "tags": ["heartbeat"]}
                out.append((source.kind, _doc_id(source.kind, doc, n), doc))
            moment += step
    return out


def fixture_inventory(base: Inventory, fixture: Fixture) -> Inventory:
    if not fixture.inventory:
        return base
    data = base.model_dump(mode="json")
    data.update(fixture.inventory)
    return inventory_from_dict(data, f"fixture {fixture.name}: inventory")


async def run_fixture(store: Store, control: Control, fixture: Fixture,
                      sources: dict[str, Source], base_inventory: Inventory,
                      waivers: list[Any] | None = None) -> FixtureOutcome:
    label = f"{control.id}/{uuid.uuid4().hex[:12]}"
    docs: list[tuple[str, str, dict[str, Any]]] = []
    if fixture.fill:
        filled = [sources[n] for n in control.data_sources if n not in fixture.silent]
        docs.extend(heartbeat_documents(filled, FIXTURE_START, FIXTURE_END))
    for position, item in enumerate(fixture.docs):
        for copy in range(item.count):
            base = FIXTURE_START + timedelta(seconds=copy * item.every_seconds)
            doc = resolve_times(item.doc, base)
            doc.setdefault("@timestamp", iso(base + timedelta(hours=1)))
            docs.append((item.kind, _doc_id(item.kind, doc, position * 1000 + copy), doc))
    docs = [(kind, f"{label}/{doc_id}", {**doc, "labels": {"fixture": label}})
            for kind, doc_id, doc in docs]
    for kind in _KINDS:
        batch = [(doc_id, doc) for k, doc_id, doc in docs if k == kind]
        for offset in range(0, len(batch), 2000):
            await put_documents(store, kind, batch[offset:offset + 2000])
    await refresh(store, _KINDS)
    catalogue = Catalogue("pci-dss-4.0.1", "4.0.1", tuple(
        Requirement(r, r, (control.id,)) for r in control.requirements))
    results: list[ControlResult] = await evaluate_period(
        [control], catalogue, store, FIXTURE_START, FIXTURE_END, FIXTURE_END + timedelta(hours=1),
        inventory=fixture_inventory(base_inventory, fixture), sources=sources, write=False,
        scope={"term": {"labels.fixture": label}}, waivers=waivers)
    result = results[0]
    return FixtureOutcome(control.id, fixture.name, fixture.expect, result.status.value,
                          result.reason, int(result.counts.get("failed", 0)), fixture.expect_failed)


async def run_control_fixtures(store: Store, control: Control, sources: dict[str, Source],
                               base_inventory: Inventory) -> list[FixtureOutcome]:
    return [await run_fixture(store, control, fixture, sources, base_inventory)
            for fixture in control.fixtures]
