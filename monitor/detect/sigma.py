"""Sigma → rule files, with pySigma, its Elasticsearch Lucene backend and our ECS pipeline.

``import_sigma_paths(paths, out_dir, pci=None) -> list[ImportResult]``

Each Sigma file becomes one rule file (or is refused with the reason; nothing is ever written
half-converted). A file is refused when:

* pySigma cannot parse it (the reason names the Sigma error);
* its logsource is not one our pipeline maps (``LOGSOURCES``);
* a detection field has no ECS mapping (``FIELDS``), or it is a keyword (field-less) search;
* it is a correlation other than ``event_count``/``value_count`` with ``gte``/``gt``, or its
  status is deprecated/unsupported, or an ATT&CK tag is not in our pinned data;
* the generated rule fails our own schema.

Plain rules become ``match`` rules; ``event_count`` → ``threshold`` and ``value_count`` →
``cardinality`` (sliding windows, stricter than the static buckets Sigma backends use).
pySigma is an optional dependency (``pip install .[sigma]``); importing this module without it
is fine, calling the importer raises :class:`SigmaUnavailable`.
"""
from __future__ import annotations

import os
import re
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import SigmaUnavailable
from .lint import attack_data
from .schema import RISK_BANDS, RuleValidationError, parse_rule

if TYPE_CHECKING:  # optional dependency: imported where used
    from sigma.backends.elasticsearch.elasticsearch_lucene import LuceneBackend

__all__ = [
    "FIELDS",
    "LOGSOURCES",
    "ImportResult",
    "SigmaUnavailable",
    "convert_sigma_text",
    "import_sigma_paths",
]

#: Sigma taxonomy field → ECS field our normalizers write
FIELDS: dict[str, str] = {
    "src_ip": "source.ip", "dst_ip": "destination.ip", "src_port": "source.port",
    "dst_port": "destination.port", "action": "event.action", "protocol": "network.transport",
    "username": "user.name", "user": "user.name", "rule_name": "rule.name",
    "gateway": "observer.name", "product": "observer.product",
    "operation": "checkpoint.operation", "outcome": "event.outcome",
    "administrator": "user.name", "session_name": "checkpoint.session_name",
    "session_description": "checkpoint.session_description",
    # Check Point logs carry no "blocked" flag: the branch is kept (never matches) and said so
    "blocked": "checkpoint.blocked",
}
#: action values as Check Point writes them (keyword fields are case-sensitive)
ACTION_VALUES = {"accept": "Accept", "allow": "Accept", "forward": "Accept", "drop": "Drop",
                 "deny": "Drop", "block": "Block", "reject": "Reject"}
#: (category, product, service) → (index kind, default group_by, default PCI ids)
LOGSOURCES: dict[tuple[str | None, str | None, str | None], tuple[str, tuple[str, ...],
                                                                    tuple[str, ...]]] = {
    ("firewall", None, None): ("events", ("source.ip", "destination.ip", "destination.port"),
                               ("1.2.5", "1.3.1")),
    ("firewall", "checkpoint", None): ("events", ("source.ip", "destination.ip",
                                                  "destination.port"), ("1.2.5", "1.3.1")),
    (None, "checkpoint", "audit"): ("events", ("user.name", "source.ip"), ("10.2.1.2",)),
}
_LEVELS = {"informational": "low", "low": "low", "medium": "medium", "high": "high",
           "critical": "critical"}
_STATUS = {"stable": "stable", "test": "test", "experimental": "experimental"}


@dataclass(frozen=True, slots=True)
class ImportResult:
    source: str
    ok: bool
    rule_file: Path | None = None
    reason: str = ""
    rule: dict[str, Any] | None = None


class _Refused(Exception):
    pass


def _backend() -> LuceneBackend:
    try:
        from sigma.backends.elasticsearch.elasticsearch_lucene import LuceneBackend
        from sigma.processing.conditions import ExcludeFieldCondition, IncludeFieldCondition
        from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
        from sigma.processing.transformations import (
            DetectionItemFailureTransformation,
            FieldMappingTransformation,
            MapStringTransformation,
        )
    except ImportError as exc:
        raise SigmaUnavailable("Sigma import needs pySigma: pip install "
                               "'pci-compliance-monitor[sigma]'") from exc
    ecs = sorted(set(FIELDS.values()))
    # pySigma's own value types (a field may map to several); copies, so it cannot change ours
    field_map: dict[str | None, str | list[str]] = {k: v for k, v in FIELDS.items()}
    action_map: dict[str, str | list[str]] = {k: v for k, v in ACTION_VALUES.items()}
    pipeline = ProcessingPipeline(name="monitor ECS (Check Point, firewall)", priority=20, items=[
        ProcessingItem(identifier="ecs_fields",
                       transformation=FieldMappingTransformation(field_map)),
        ProcessingItem(identifier="action_values",
                       transformation=MapStringTransformation(action_map),
                       field_name_conditions=[IncludeFieldCondition(fields=["event.action"])]),
        ProcessingItem(identifier="unmapped_field", transformation=DetectionItemFailureTransformation(
            "field has no ECS mapping in the monitor pipeline"),
            field_name_conditions=[ExcludeFieldCondition(fields=ecs)]),
    ])
    return LuceneBackend(processing_pipeline=pipeline)


def _logsource(ls: Any) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    key = (ls.category, ls.product, ls.service)
    for candidate in (key, (ls.category, ls.product, None), (ls.category, None, None)):
        if candidate in LOGSOURCES:
            return LOGSOURCES[candidate]
    raise _Refused(f"logsource {key} is not mapped by the monitor pipeline "
                   f"(mapped: {sorted(str(k) for k in LOGSOURCES)})")


def _threat(tags: Iterable[Any]) -> list[dict[str, Any]]:
    data = attack_data()
    by_name = {name.lower().replace(" ", "_"): tid for tid, name in data["tactics"].items()}
    tactics: dict[str, list[str]] = {}
    for tag in tags:
        if str(tag.namespace) != "attack":
            continue
        name = str(tag.name).lower().replace("-", "_")
        if re.fullmatch(r"t\d{4}(\.\d{3})?", name):
            tech = name.upper()
            info = data["techniques"].get(tech)
            if info is None:
                raise _Refused(f"ATT&CK technique {tech} is not in the pinned data "
                               f"({data['version']})")
            tactics.setdefault(info["tactics"][0], []).append(tech)
        elif name in by_name:
            tactics.setdefault(by_name[name], [])
        elif re.fullmatch(r"(g|s)\d{4}", name):
            continue  # groups and software: no field for them
        else:
            raise _Refused(f"ATT&CK tag attack.{name} is not a tactic or technique we know")
    if not tactics:
        raise _Refused("no ATT&CK tactic or technique tag (attack.*)")
    return [{"tactic": t, "techniques": sorted(set(x))} for t, x in sorted(tactics.items())]


def _has_keywords(node: Any) -> bool:
    items = getattr(node, "detection_items", None)
    if items is not None:
        return any(_has_keywords(i) for i in items)
    return hasattr(node, "field") and node.field is None


def _query(backend: Any, rule: Any) -> str:
    from sigma.exceptions import SigmaError

    if any(_has_keywords(d) for d in rule.detection.detections.values()):
        raise _Refused("keyword (field-less) search: every term must name a field")
    if getattr(rule, "_output", True) is False:
        rule._output = True  # a correlation's base rule: we need its query, not to hide it
    try:
        queries = backend.convert_rule(rule)
    except SigmaError as exc:
        raise _Refused(f"cannot convert: {exc}") from None
    if not queries:
        raise _Refused("conversion produced no query")
    for q in queries:
        if not re.search(r"[A-Za-z_@][\w.@]*:", str(q)):
            raise _Refused("keyword (field-less) search: every term must name a field")
    return " OR ".join(f"({q})" for q in queries) if len(queries) > 1 else str(queries[0])


def _meta(rule: Any, source: str, pci: tuple[str, ...] | None,
          logsource: tuple[str, tuple[str, ...], tuple[str, ...]]) -> dict[str, Any]:
    status = _STATUS.get(str(rule.status.name if rule.status else "experimental").lower())
    if status is None:
        raise _Refused(f"status {rule.status} is not importable")
    level = _LEVELS.get(str(rule.level.name if rule.level else "medium").lower(), "medium")
    low, high = RISK_BANDS[level]
    fps = [str(f) for f in (rule.falsepositives or [])] or ["none documented"]
    description = (rule.description or rule.title or "").strip()
    rid = str(rule.id) if rule.id else str(uuid.uuid5(uuid.NAMESPACE_URL, f"sigma:{rule.title}"))
    return {
        "id": rid.lower(), "name": f"Sigma: {rule.title}"[:200],
        "description": description if len(description) >= 10 else f"Sigma rule {rule.title}",
        "version": 1, "status": status, "severity": level, "risk_score": (low + high) // 2,
        "threat": _threat(rule.tags or []),
        "pci_dss_v4_0_1": list(pci or logsource[2]),
        "note": "## Triage (imported from Sigma)\n\n" + description + "\n\nKnown false positives:\n"
                + "".join(f"- {f}\n" for f in fps),
        "references": [str(r) for r in (rule.references or [])][:20],
        "tags": ["sigma"], "author": str(rule.author or "")[:200],
        "index": logsource[0],
        "source": {"format": "sigma", "sigma_id": rid, "file": source},
    }


def _convert_collection(collection: Any, source: str, pci: tuple[str, ...] | None
                        ) -> dict[str, Any]:
    from sigma.correlations import SigmaCorrelationCondition, SigmaCorrelationRule
    from sigma.rule import SigmaRule

    backend = _backend()
    errors = list(getattr(collection, "errors", []) or [])
    if errors:
        raise _Refused("; ".join(str(e) for e in errors))
    correlations = [r for r in collection.rules if isinstance(r, SigmaCorrelationRule)]
    plain = [r for r in collection.rules if isinstance(r, SigmaRule)]
    if len(correlations) > 1 or (not correlations and len(plain) != 1):
        raise _Refused("one rule (or one correlation with its base rule) per file")
    if not correlations:
        rule = plain[0]
        logsource = _logsource(rule.logsource)
        meta = _meta(rule, source, pci, logsource)
        return {**meta, "type": "match", "query": _query(backend, rule),
                "group_by": list(logsource[1])}
    corr = correlations[0]
    kind = str(corr.type.name if hasattr(corr.type, "name") else corr.type).lower()
    if kind not in ("event_count", "value_count"):
        raise _Refused(f"correlation type {kind} is not supported (event_count, value_count)")
    condition = corr.condition
    if not isinstance(condition, SigmaCorrelationCondition):  # pySigma allows these for temporal
        raise _Refused("an extended (boolean) correlation condition is not supported")
    op = str(condition.op.name).lower()
    count = int(condition.count)
    if op == "gt":
        count += 1
    elif op != "gte":
        raise _Refused(f"correlation condition {op} is not supported (gte, gt)")
    bases = [r.rule for r in corr.rules] if corr.rules else []
    if len(bases) != 1 or not isinstance(bases[0], SigmaRule):
        raise _Refused("a correlation over exactly one base rule is supported")
    base = bases[0]
    logsource = _logsource(base.logsource)
    meta = _meta(corr, source, pci, logsource)
    if not corr.level:
        meta["severity"] = _LEVELS.get(str(base.level.name).lower(), "medium") if base.level \
            else "medium"
        meta["risk_score"] = sum(RISK_BANDS[meta["severity"]]) // 2
    window = f"{int(corr.timespan.seconds)}s"
    group_by = [FIELDS.get(str(f)) for f in corr.group_by or []]
    if any(g is None for g in group_by):
        raise _Refused(f"correlation group-by field without ECS mapping: {corr.group_by}")
    out = {**meta, "query": _query(backend, base), "group_by": group_by}
    if kind == "event_count":
        out.update(type="threshold", threshold={"count": count, "window": window})
    else:
        field = FIELDS.get(str(condition.fieldref))
        if field is None:
            raise _Refused(f"value_count field {condition.fieldref} has no ECS mapping")
        out.update(type="cardinality", cardinality={"field": field, "count": max(2, count),
                                                    "window": window})
    return out


def convert_sigma_text(text: str, source: str = "<sigma>",
                       pci: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Convert one Sigma document set to our rule mapping; raise ValueError with the reason."""
    from sigma.collection import SigmaCollection
    from sigma.exceptions import SigmaError

    _backend()
    try:
        collection = SigmaCollection.from_yaml(text, collect_errors=True)
    except (SigmaError, yaml.YAMLError) as exc:
        raise ValueError(f"not a valid Sigma rule: {exc}") from None
    try:
        data = _convert_collection(collection, source, pci)
    except _Refused as exc:
        raise ValueError(str(exc)) from None
    except SigmaError as exc:
        raise ValueError(f"Sigma error: {exc}") from None
    try:
        parse_rule(data, source)
    except RuleValidationError as exc:
        raise ValueError(f"converted rule fails the schema: {exc}") from None
    return data


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sigma-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def import_sigma_paths(paths: Iterable[Path], out_dir: Path,
                       pci: tuple[str, ...] | None = None) -> list[ImportResult]:
    _backend()
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.rglob("*.yml")) + sorted(path.rglob("*.yaml"))
                     if path.is_dir() else [path])
    results = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
            data = convert_sigma_text(text, file.name, pci)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            results.append(ImportResult(str(file), False, reason=str(exc)))
            continue
        slug = re.sub(r"[^a-z0-9]+", "_", data["name"].lower().removeprefix("sigma: ")).strip("_")
        target = out_dir / f"sigma_{slug[:60]}.yaml"
        header = (f"# Imported from Sigma by `monitor rules import-sigma` ({file.name}).\n"
                  "# Sigma rules are under the Detection Rule License (DRL) 1.1: keep the\n"
                  "# author and reference lines when you share this file.\n")
        _write_atomic(target, header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True,
                                                      width=100))
        results.append(ImportResult(str(file), True, target, rule=data))
    return results
