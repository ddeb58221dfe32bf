"""What a report needs besides Elasticsearch: the requirement catalogue, control metadata,
waivers and the versions that go into the provenance block.

The catalogue and control files are owned by the compliance side (``rules/pci/``); this module
only reads them into small frozen values, tolerating fields it does not know, so a report can
always be rendered. Validation of those files is ``monitor rules validate``'s job.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ..resources import rules_dir
from ..yamlio import YamlError, load_yaml

__all__ = [
    "ControlMeta",
    "ReportInputs",
    "Requirement",
    "Waiver",
    "load_catalogue",
    "load_control_meta",
    "load_source_datasets",
    "load_waivers",
    "parse_time",
    "rulepack_version",
]


@dataclass(frozen=True, slots=True)
class Requirement:
    id: str
    title: str
    controls: tuple[str, ...] = ()
    manual: str = ""


@dataclass(frozen=True, slots=True)
class ControlMeta:
    id: str
    name: str
    description: str = ""
    remediation: str = ""
    sources: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    manual: bool = False  # ``mode: manual``: an assessor judges, no automated verdict


@dataclass(frozen=True, slots=True)
class Waiver:
    """An accepted exception: for a control (or every control of a requirement), or for threat
    findings (``kind="finding"``: the rule engine's exceptions file, ``rules`` + ``match``)."""

    id: str
    target: str
    justification: str
    approver: str
    expires: datetime | None
    granted: datetime | None = None
    kind: str = "control"  # control | finding


@dataclass(frozen=True, slots=True)
class ReportInputs:
    """Everything a report reads that is not in Elasticsearch. Tests build one by hand."""

    framework: str = "pci-dss-4.0.1"
    framework_version: str = "4.0.1"
    catalogue: tuple[Requirement, ...] = ()
    controls: dict[str, ControlMeta] = field(default_factory=dict)
    waivers: tuple[Waiver, ...] = ()
    daemon_version: str = "unknown"
    rulepack_version: str = "unknown"
    scope_gateways: tuple[str, ...] = ()
    scope_repositories: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # problems reading inputs, shown in the provenance block
    #: compliance source name (rules/pci/sources.yaml) → event.dataset it reads
    source_datasets: dict[str, str] = field(default_factory=dict)
    #: event.dataset → the source's declared cadence in seconds (its ``interval``): a silence
    #: at least this long turns a control's pass reading that dataset into insufficient_data
    source_intervals: dict[str, int] = field(default_factory=dict)
    kibana_url: str | None = None
    #: management server (origin) → repositories its installs may come from (the inventory's
    #: ``management_servers[].repos``); empty: no binding
    change_repos: dict[str, tuple[str, ...]] = field(default_factory=dict)


def parse_time(value: Any) -> datetime | None:
    """ISO string, date or datetime → aware UTC datetime; anything else → None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(float(value) / 1000.0, UTC)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _strs(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return (str(value),)


def load_catalogue(path: Path | None = None) -> tuple[tuple[Requirement, ...], str, list[str]]:
    """Read ``rules/pci/requirements.yaml`` → (requirements, framework version, problems)."""
    path = path or rules_dir() / "pci" / "requirements.yaml"
    try:
        data = load_yaml(path)
    except YamlError as exc:
        return (), "unknown", [f"requirements catalogue unreadable: {exc}"]
    if not isinstance(data, dict) or not isinstance(data.get("requirements"), list):
        return (), "unknown", [f"{path}: no 'requirements' list"]
    out: list[Requirement] = []
    for entry in data["requirements"]:
        if isinstance(entry, dict) and entry.get("id") is not None:
            out.append(Requirement(id=str(entry["id"]), title=str(entry.get("title", "")),
                                   controls=_strs(entry.get("controls")),
                                   manual=str(entry.get("manual") or "")))
    return tuple(out), str(data.get("version", "unknown")), []


def load_control_meta(folder: Path | None = None) -> tuple[dict[str, ControlMeta], list[str]]:
    """Read the control files (``rules/pci/controls/*.yaml``) for names, checks and remediation."""
    folder = folder or rules_dir() / "pci" / "controls"
    metas: dict[str, ControlMeta] = {}
    problems: list[str] = []
    if not folder.is_dir():
        return metas, problems
    datasets = load_source_datasets(folder.parent / "sources.yaml")
    for path in sorted(folder.glob("*.y*ml")):
        if path.name.endswith((".fixtures.yaml", ".fixtures.yml")):
            continue
        try:
            data = load_yaml(path)
        except YamlError as exc:
            problems.append(str(exc))
            continue
        if not isinstance(data, dict) or "id" not in data:
            continue
        remediation = data.get("remediation") or data.get("remediation_guidance") or ""
        description = str(data.get("description") or data.get("check") or data.get("logic") or "")
        if data.get("pass_criteria"):
            description = f"{description.strip()} Pass criteria: {data['pass_criteria']}"
        metas[str(data["id"])] = ControlMeta(
            id=str(data["id"]), name=str(data.get("name") or data.get("title") or data["id"]),
            description=description.strip(), remediation=str(remediation).strip(),
            sources=tuple(datasets.get(n, n) for n in
                          _strs(data.get("sources") or data.get("data_sources"))),
            references=_strs(data.get("references")), manual=data.get("mode") == "manual")
    return metas, problems


def load_source_datasets(path: Path | None = None) -> dict[str, str]:
    """``rules/pci/sources.yaml``: source name → the ``event.dataset`` its query selects."""
    path = path or rules_dir() / "pci" / "sources.yaml"
    try:
        data = load_yaml(path)
    except YamlError:
        return {}
    out: dict[str, str] = {}
    for name, source in ((data or {}).get("sources") or {}).items():
        term = ((source or {}).get("query") or {}).get("term") or {}
        dataset = term.get("event.dataset")
        if isinstance(dataset, dict):
            dataset = dataset.get("value")
        if dataset:
            out[str(name)] = str(dataset)
    return out


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def load_source_intervals(path: Path | None = None) -> dict[str, int]:
    """``rules/pci/sources.yaml``: event.dataset → declared ``interval`` in seconds."""
    path = path or rules_dir() / "pci" / "sources.yaml"
    try:
        data = load_yaml(path)
    except YamlError:
        return {}
    datasets = load_source_datasets(path)
    out: dict[str, int] = {}
    for name, source in ((data or {}).get("sources") or {}).items():
        interval = str((source or {}).get("interval") or "")
        if name in datasets and interval[:-1].isdigit() and interval[-1:] in _UNITS:
            seconds = int(interval[:-1]) * _UNITS[interval[-1]]
            dataset = datasets[name]
            out[dataset] = min(out.get(dataset, seconds), seconds)
    return out


def load_waivers(path: Path | None) -> tuple[tuple[Waiver, ...], list[str]]:
    """The exceptions file read the way the rule engine, the compliance evaluator and
    ``config check`` read it (``findings.exceptions``: one schema, justification, approver and
    expiry required). An invalid file gives no waiver and its problems: a waiver that would not
    be accepted elsewhere is not accepted here either."""
    if path is None:
        return (), []
    from ..errors import RuleValidationError
    from ..findings.exceptions import load_exceptions

    try:
        entries = load_exceptions(path)
    except RuleValidationError as exc:
        return (), [str(issue) for issue in exc.issues]
    out = [Waiver(kind=e.kind, id=e.id, target=e.target, justification=e.justification,
                  approver=e.approver, expires=e.expires, granted=e.granted) for e in entries]
    return tuple(sorted(out, key=lambda w: (w.target, w.id))), []


def rulepack_version(folder: Path | None = None) -> str:
    """``<files>f-<sha256[:12]>`` over every rule file's path and bytes: changes with any edit."""
    folder = folder or rules_dir()
    digest = hashlib.sha256()
    count = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml")):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
        count += 1
    return f"{count}f-{digest.hexdigest()[:12]}"
