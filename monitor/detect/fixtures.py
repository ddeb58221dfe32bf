"""Rule fixtures: events in, expected findings out, run against a real Elasticsearch.

``rules/threat/<name>.fixtures.yaml`` next to ``<name>.yaml``::

    cases:
      - name: 40 ports from one source in a minute
        range: {from: 2026-03-02T10:00:00Z, to: 2026-03-02T10:10:00Z}  # optional
        events:                       # documents for the events kind (changes: for changes)
          - at: 2026-03-02T10:01:00Z  # @timestamp
            repeat: 40                # optional, with every: 1s
            every: 1s
            vary: {destination.port: {from: 1000, step: 1}}   # or {cycle: [a, b]}
            doc: {event.action: Drop, source.ip: 10.9.9.9}   # dotted keys are nested
        findings:                     # exactly these (group → number of findings, default 1)
          - group: {source.ip: 10.9.9.9}
      - name: benign (negative)
        events: [...]
        findings: []

No expression language: ``vary`` only knows arithmetic sequences and cycles.

Rules that name inventory sets are bound to the example inventory
(``rules/inventory.example.yaml``); a case may give ``inventory:`` (top-level keys replaced
over the example), so a fixture can show the same rule on a network unlike the example's.
``run_fixtures(loaded, store)`` bulk-loads every case once, each document labelled
``labels.fixture: <case>``, and evaluates each case's ``[from, to)`` with ``evaluate_range``
(no state, no writes) on the rule restricted to its label (``scoped_rule``: same ids and
windows), then compares the finding groups exactly. Cases never see each other's data.
"""
from __future__ import annotations

import functools
import hashlib
import ipaddress
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from ..inventory.load import inventory_from_dict
from ..inventory.model import Inventory
from ..model import Document
from ..resources import rules_dir
from ..store import BulkWriter, Store
from ..yamlio import load_yaml
from .compile import base_query
from .engine import evaluate_range
from .loader import LoadedRule, fixtures_path
from .schema import Rule, RuleIssue, RuleValidationError, parse_duration

__all__ = ["Case", "CaseResult", "Overlap", "expand", "load_cases", "nest", "overlaps",
           "run_case", "run_fixtures"]


@dataclass(frozen=True)
class Case:
    name: str
    start: datetime
    end: datetime
    docs: dict[str, list[tuple[str, dict[str, Any]]]]
    expected: dict[str, int]
    inventory: Inventory | None = None


@dataclass
class CaseResult:
    rule_id: str
    rule_name: str
    case: str
    ok: bool
    expected: dict[str, int]
    got: dict[str, int]
    error: str | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)


def _dt(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"source.ip": x}`` → ``{"source": {"ip": x}}`` (nested input is kept)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if isinstance(value, dict):
            value = nest(value)
        parts = key.split(".") if key != "@timestamp" else [key]
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
            node[parts[-1]].update(value)
        else:
            node[parts[-1]] = value
    return out


def _vary(spec: Any, i: int) -> Any:
    if isinstance(spec, dict) and "cycle" in spec:
        return spec["cycle"][i % len(spec["cycle"])]
    if isinstance(spec, dict) and "from" in spec:
        if isinstance(spec["from"], str):  # an IP address: 10.0.0.1, 10.0.0.2, ...
            return str(ipaddress.ip_address(spec["from"]) + i * int(spec.get("step", 1)))
        return spec["from"] + i * spec.get("step", 1)
    raise ValueError("vary needs {from: N, step: N} or {cycle: [...]}")


def expand(items: list[dict[str, Any]], prefix: str) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for n, item in enumerate(items or []):
        at = _dt(item["at"])
        every = parse_duration(item.get("every", "1s"))
        for i in range(int(item.get("repeat", 1))):
            flat = dict(item.get("doc") or {})
            for key, spec in (item.get("vary") or {}).items():
                flat[key] = _vary(spec, i)
            flat["@timestamp"] = (at + i * every).isoformat().replace("+00:00", "Z")
            doc = nest(flat)
            doc_id = hashlib.sha1(f"{prefix}|{n}|{i}".encode()).hexdigest()[:20]
            doc.setdefault("event", {}).setdefault("id", doc_id)
            out.append((doc_id, doc))
    return out


def _group_text(group: dict[str, Any]) -> str:
    def norm(v: Any) -> str:
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)
    return "|".join(f"{k}={norm(v)}" for k, v in sorted(group.items())) or "-"


@functools.cache
def _example() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(rules_dir() / "inventory.example.yaml")  # shipped: a mapping
    return data


def fixture_inventory(over: dict[str, Any] | None = None) -> Inventory:
    """The example inventory, with ``over``'s top-level keys replacing the example's."""
    return inventory_from_dict({**_example(), **(over or {})}, "fixture inventory")


def load_cases(entry: LoadedRule) -> list[Case]:
    path = fixtures_path(entry.path)
    if not path.is_file():
        raise RuleValidationError([RuleIssue(str(entry.path), entry.rule.id, "fixtures",
                                             f"missing {path.name}")])
    data = load_yaml(path)
    cases = []
    for i, raw in enumerate(data.get("cases") or []):
        prefix = f"{entry.rule.id}|{i}"
        docs = {"events": expand(raw.get("events") or [], prefix + "|e"),
                "changes": expand(raw.get("changes") or [], prefix + "|c")}
        times = [_dt(d["@timestamp"]) for kind in docs.values() for _, d in kind]
        rng = raw.get("range") or {}
        start = _dt(rng["from"]) if "from" in rng else min(times).replace(second=0, microsecond=0)
        end = _dt(rng["to"]) if "to" in rng else max(times).replace(
            second=0, microsecond=0) + timedelta(minutes=2)
        expected: dict[str, int] = {}
        for f in raw.get("findings") or []:
            key = _group_text(f.get("group") or {})
            expected[key] = expected.get(key, 0) + int(f.get("count", 1))
        cases.append(Case(str(raw.get("name", f"case {i}")), start, end, docs, expected,
                          fixture_inventory(raw.get("inventory"))))
    if not cases:
        raise RuleValidationError([RuleIssue(str(path), entry.rule.id, "cases", "at least one case")])
    return cases


def scoped_rule(rule: Rule, label: str) -> Rule:
    """The rule restricted to documents labelled ``labels.fixture: <label>`` (its own query and,
    for reconcile, its B query); ids, windows and everything else unchanged."""
    term = {"term": {"labels.fixture": label}}
    update: dict[str, Any] = {"filters": (*rule.filters, term)}
    if rule.reconcile is not None:
        b = rule.reconcile.b
        b_query = base_query(rule.model_copy(update={"query": b.query, "query_dsl": b.query_dsl}))
        update["reconcile"] = rule.reconcile.model_copy(update={"b": b.model_copy(update={
            "query": None, "query_dsl": {"bool": {"filter": [b_query, term]}}})})
    return rule.model_copy(update=update)


async def _load_cases(store: Store, batch: list[tuple[str, Case]]) -> str | None:
    items = []
    for label, case in batch:
        for kind, docs in case.docs.items():
            for doc_id, doc in docs:
                doc = {**doc, "labels": {**doc.get("labels", {}), "fixture": label}}
                try:  # a value JSON cannot carry (a 40-digit SHA read as a YAML int) is a
                    orjson.dumps(doc)  # fixture error, not a silent dead letter
                except (TypeError, orjson.JSONEncodeError) as exc:
                    return (f"fixture document {doc_id} of {case.name!r} not serializable: {exc} "
                            "(quote long numbers such as SHAs)")
                items.append(Document(kind, f"{label}-{doc_id}", doc))
    if items:
        result = await BulkWriter(store).write(items, refresh=True)
        if result.dead_lettered or result.indexed + result.duplicates != len(items):
            return f"fixture documents rejected: {result.dead_letter_reasons}"
    return None


async def _evaluate(entry: LoadedRule, label: str, case: Case, store: Store) -> CaseResult:
    rule = entry.rule
    stats = await evaluate_range([scoped_rule(rule, label)], store, case.start, case.end,
                                 write=False, inventory=case.inventory or fixture_inventory())
    if stats.unbound:
        return CaseResult(rule.id, rule.name, case.name, False, case.expected, {},
                          error="inventory lacks " + ", ".join(stats.unbound[rule.id]))
    if stats.errors:
        return CaseResult(rule.id, rule.name, case.name, False, case.expected, {},
                          error="; ".join(stats.errors.values()))
    got: dict[str, int] = {}
    for doc in stats.results:
        key = _group_text(_groups(doc))
        got[key] = got.get(key, 0) + 1
    return CaseResult(rule.id, rule.name, case.name, got == case.expected, case.expected, got,
                      findings=stats.results)


async def run_case(entry: LoadedRule, case: Case, store: Store) -> CaseResult:
    """Load one case (labelled, so other data in the prefix is invisible to it) and check it."""
    label = uuid.uuid4().hex[:12]
    error = await _load_cases(store, [(label, case)])
    if error:
        return CaseResult(entry.rule.id, entry.rule.name, case.name, False, case.expected, {},
                          error=error)
    return await _evaluate(entry, label, case, store)


def _groups(doc: dict[str, Any]) -> dict[str, Any]:
    # finding.group keeps field names with '.' replaced by '_': rebuild from group_key instead
    text = doc["finding"]["group_key"]
    if text == "-":
        return {}
    return dict(part.split("=", 1) for part in text.split("|"))


async def run_fixtures(entries: list[LoadedRule], store: Store) -> list[CaseResult]:
    """Every case of every rule: one bulk load (each case labelled), then one evaluation each."""
    results: list[CaseResult] = []
    planned: list[tuple[LoadedRule, str, Case]] = []
    for entry in entries:
        try:
            cases = load_cases(entry)
        except (RuleValidationError, KeyError, ValueError, TypeError) as exc:
            results.append(CaseResult(entry.rule.id, entry.rule.name, "<load>", False, {}, {},
                                      error=str(exc)))
            continue
        planned += [(entry, f"{entry.rule.id[:8]}-{i}-{uuid.uuid4().hex[:6]}", case)
                    for i, case in enumerate(cases)]
    error = await _load_cases(store, [(label, case) for _, label, case in planned])
    for entry, label, case in planned:
        if error:
            results.append(CaseResult(entry.rule.id, entry.rule.name, case.name, False,
                                      case.expected, {}, error=error))
        else:
            results.append(await _evaluate(entry, label, case, store))
    return results


@dataclass(frozen=True)
class Overlap:
    """Rule ``other`` fired on events of a positive case of rule ``rule`` (shared samples)."""

    rule_id: str
    case: str
    other_id: str
    shared: tuple[str, ...]


async def overlaps(entries: list[LoadedRule], store: Store) -> list[Overlap]:
    """Every enabled rule over every positive case of every other enabled rule: which pairs
    fire on the same events. One incident should be one finding: a pair that does must ask a
    different question (then it says so, see the pack test), or one of them goes."""
    enabled = [e for e in entries if e.rule.enabled]
    planned = []
    for entry in enabled:
        for i, case in enumerate(load_cases(entry)):
            if case.expected:
                planned.append((entry, f"ov-{entry.rule.id[:8]}-{i}-{uuid.uuid4().hex[:6]}",
                                case))
    error = await _load_cases(store, [(label, case) for _, label, case in planned])
    if error:
        raise ValueError(error)
    found: list[Overlap] = []
    for entry, label, case in planned:
        rules = [scoped_rule(e.rule, label) for e in enabled]
        stats = await evaluate_range(rules, store, case.start, case.end, write=False,
                                     inventory=case.inventory or fixture_inventory())
        samples: dict[str, set[str]] = {}
        for doc in stats.results:
            samples.setdefault(doc["rule"]["id"], set()).update(doc["finding"]["sample_ids"])
        mine = samples.get(entry.rule.id, set())
        for other_id, ids in sorted(samples.items()):
            if other_id != entry.rule.id and mine & ids:
                found.append(Overlap(entry.rule.id, case.name, other_id,
                                     tuple(sorted(mine & ids))))
    return found
