"""Collect the evidence for a set of controls with as few round trips as possible.

All source-coverage histograms and all checks of every control go out in one ``_msearch``
(chunked at 100 searches); ``reconcile`` checks need a second round to look up the referenced
changes (a kind's ``followup``). Only aggregations come back, never the matching documents. Elasticsearch is reached
through ``monitor.store.compliance`` only.

    await gather_evidence(controls, sources, inventory, store, period, now) -> GatherResult
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..inventory.model import Inventory
from ..store import Store
from ..store.compliance import aggregate_many
from .checks import Judging, kind_of
from .controls import Control, Source
from .evaluate import Coverage, Evidence, source_coverage
from .queries import Period, source_request

__all__ = ["GatherResult", "gather_evidence", "inventory_digest", "missing_inventory"]

_CHUNK = 100


@dataclass(slots=True)
class GatherResult:
    evidence: dict[str, Evidence] = field(default_factory=dict)
    coverage: dict[str, Coverage] = field(default_factory=dict)
    searches: int = 0
    round_trips: int = 0
    took_ms: int = 0


def inventory_digest(inventory: Inventory) -> str:
    """The inventory's version (the same digest a threat finding records)."""
    return inventory.digest()


def missing_inventory(control: Control, params: dict[str, Any]) -> list[str]:
    """Required ``$inventory`` keys that are empty: the control cannot be judged without them."""
    return sorted(key for key in control.required_inventory
                  if params.get(key) in (None, [], "", {}))


async def _run(store: Store, requests: list[tuple[str, dict[str, Any]]], result: GatherResult
               ) -> list[dict[str, Any]]:
    responses: list[dict[str, Any]] = []
    for offset in range(0, len(requests), _CHUNK):
        chunk = requests[offset:offset + _CHUNK]
        answered = await aggregate_many(store, chunk)
        result.round_trips += 1
        result.searches += len(chunk)
        result.took_ms += sum(int(r.get("took", 0)) for r in answered)
        responses.extend(answered)
    return responses


def _shown(store: Store, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"index": store.names.read(kind), "body": body}


def _scoped(request: tuple[str, dict[str, Any]], scope: dict[str, Any] | None
            ) -> tuple[str, dict[str, Any]]:
    if scope is None:
        return request
    kind, body = request
    return kind, {**body, "query": {"bool": {"filter": [body.get("query", {"match_all": {}}),
                                                        scope]}}}


async def gather_evidence(controls: list[Control], sources: dict[str, Source],
                          inventory: Inventory, store: Store, period: Period, now: datetime,
                          scope: dict[str, Any] | None = None) -> GatherResult:
    """``scope`` is an extra filter on every search (fixtures use it to isolate their data)."""
    result = GatherResult()
    params = inventory.params(at=period.end.date())
    digest = inventory_digest(inventory)
    needed = sorted({name for c in controls if c.mode == "automated" for name in c.data_sources})
    requests: list[tuple[str, dict[str, Any]]] = [_scoped(source_request(sources[n], period), scope)
                                                  for n in needed]
    plan: list[tuple[Control, list[tuple[Any, int, int]]]] = []
    for control in controls:
        evidence = Evidence(inventory_sha256=digest)
        result.evidence[control.id] = evidence
        if control.mode != "automated":
            continue
        if control.not_applicable_if and params.get(control.not_applicable_if):
            evidence.declared_absent = f"the inventory declares {control.not_applicable_if}"
            continue
        evidence.missing_inventory = missing_inventory(control, params)
        if evidence.missing_inventory:
            continue
        slots = []
        for check in control.checks:
            built = [_scoped(r, scope) for r in kind_of(check).requests(check, params, period)]
            slots.append((check, len(requests), len(built)))
            requests.extend(built)
        plan.append((control, slots))
    responses = await _run(store, requests, result)
    for position, name in enumerate(needed):
        result.coverage[name] = source_coverage(sources[name], responses[position], period, now)
    # second round: the kinds that look something up (reconcile: the referenced changes)
    lookups: list[tuple[str, dict[str, Any]]] = []
    lookup_slot: dict[tuple[str, str], int] = {}
    for control, slots in plan:
        for check, start, count in slots:
            followup = kind_of(check).followup
            if followup is not None:
                request = followup(check, responses[start:start + count], params, period)
                if request is not None:
                    lookup_slot[(control.id, check.name)] = len(lookups)
                    lookups.append(_scoped(request, scope))
    lookup_responses = await _run(store, lookups, result) if lookups else []
    for control, slots in plan:
        evidence = result.evidence[control.id]
        for check, start, count in slots:
            shown = tuple(_shown(store, kind, body) for kind, body in requests[start:start + count])
            answers = responses[start:start + count]
            if (control.id, check.name) in lookup_slot:
                index = lookup_slot[(control.id, check.name)]
                answers = [*answers, lookup_responses[index]]
                shown += (_shown(store, *lookups[index]),)
            ctx = Judging(params, period, shown, now)
            evidence.outcomes.append(kind_of(check).judge(check, answers, ctx))
    for control in controls:
        result.evidence[control.id].coverage = {n: result.coverage[n] for n in control.data_sources
                                                if n in result.coverage}
    return result
