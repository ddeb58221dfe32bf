"""Control files (``rules/pci/controls/CHK-*.yaml``) and data sources (``rules/pci/sources.yaml``).

A control names the requirements it evaluates, the data sources that must have data across the
period (``data_sources``), and one or more ``checks``. Each check is one of a fixed set of types,
all answered with Elasticsearch aggregations (``queries.py`` builds them, ``evaluate.py`` judges):

==================  ====================================================================
``no_matches``      documents matching ``violation`` (inside ``population``) must be ≤ ``max``
``each_present``    every expected value of ``field`` (e.g. ``$inventory.gateways``) has data in
                    every ``interval`` bucket (or once in the window when no interval)
``max_age``         the newest matching document is at most ``max_age_days`` old at period end
``ratio``           numerator/denominator counts within [``min``, ``max``]
``reconcile``       every event's reference (SHA/ticket in ``field``) matches an approved change
``streak``          no success after ≥ ``threshold`` failures within ``window_minutes`` per key
``retention``       the oldest document is ≥ ``min_days`` old (or older than ``$inventory.go_live``)
``clock_skew``      no source's events are stamped later than their ingest time + tolerance
==================  ====================================================================

Query values may reference ``$inventory.<key>`` (see ``Inventory.params()``) and
``$period.start`` / ``$period.end`` (with Elasticsearch date math, ``$period.end||-24h``).
Errors name the file, the control id and the field. ``load_controls(folder)`` loads them all;
``mode: manual`` controls carry no checks and produce the ``manual`` status with their evidence note.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import RuleError
from ..inventory.model import Inventory
from ..issues import problem_lines
from ..resources import rules_dir
from ..yamlio import YamlError, load_yaml

__all__ = [
    "KINDS",
    "Control",
    "Fixture",
    "Source",
    "default_controls_dir",
    "default_sources_path",
    "load_controls",
    "load_sources",
    "placeholders",
]

KINDS = ("events", "changes", "findings", "deadletter", "inventory", "compliance", "state")
_DURATION = re.compile(r"^\d+[smhd]$")
_PLACEHOLDER = re.compile(r"^\$(inventory|period)\.([a-z_]+)(\|\|.*)?$")
_INVENTORY_KEYS = frozenset(Inventory().params())
_PERIOD_KEYS = frozenset({"start", "end"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Query = dict[str, Any]


class _Check(_Model):
    name: str = Field(min_length=3)
    kind: Literal["events", "changes", "findings", "deadletter", "inventory", "compliance", "state"] \
        = "events"
    query: Query = Field(default_factory=lambda: {"match_all": {}})
    #: evaluate [period end - lookback, period end) instead of the period
    lookback_days: float | None = Field(None, gt=0)
    #: the status when nothing was there to evaluate (no population) and the data is complete
    when_empty: Literal["not_applicable", "pass", "insufficient_data"] = "not_applicable"


class NoMatches(_Check):
    type: Literal["no_matches"]
    violation: Query
    group_by: list[str] = Field(default_factory=list, max_length=4)
    max: int = Field(0, ge=0)
    samples: int = Field(3, ge=0, le=10)


class EachPresent(_Check):
    type: Literal["each_present"]
    field: str
    expected: str | list[str]
    interval: str | None = None

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        if value is not None and not _DURATION.match(value):
            raise ValueError("expected a duration like 1h or 1d")
        return value


class MaxAge(_Check):
    type: Literal["max_age"]
    max_age_days: float = Field(gt=0)


class Side(_Model):
    kind: Literal["events", "changes", "findings", "deadletter", "compliance"] = "events"
    query: Query = Field(default_factory=lambda: {"match_all": {}})


class Ratio(_Check):
    type: Literal["ratio"]
    numerator: Side
    denominator: Side
    min: float | None = Field(None, ge=0)
    max: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> Ratio:
        if self.min is None and self.max is None:
            raise ValueError("give min or max")
        return self


class Reconcile(_Check):
    type: Literal["reconcile"]
    #: the event's reference texts (an install's session name and description): the same
    #: fields the out-of-band rule reads, searched with the same extraction
    #: (``identifiers.references``) so the rule, this check and the report agree
    field: str | list[str]
    #: an extra filter on the candidate changes; approval and the inventory's repository
    #: binding are always applied (``inventory/reconcile.approved_query``/``repos_query``)
    changes_query: Query = Field(default_factory=lambda: {"match_all": {}})
    match_fields: list[str] = Field(default_factory=lambda: ["change.sha", "change.tickets"])
    changes_lookback_days: float = Field(30, gt=0)

    @property
    def fields(self) -> list[str]:
        return [self.field] if isinstance(self.field, str) else list(self.field)


class Streak(_Check):
    type: Literal["streak"]
    by: str
    failure: Query
    success: Query
    threshold: int = Field(10, ge=1)
    window_minutes: int = Field(30, ge=1, le=1440)


class Retention(_Check):
    type: Literal["retention"]
    min_days: int = Field(365, ge=1)


class ClockSkew(_Check):
    type: Literal["clock_skew"]
    by: str = "observer.name"
    tolerance_seconds: float = Field(2.0, ge=0)


Check = Annotated[NoMatches | EachPresent | MaxAge | Ratio | Reconcile | Streak | Retention | ClockSkew, Field(discriminator="type")]


class FixtureDoc(_Model):
    kind: Literal["events", "changes", "findings", "deadletter", "inventory"] = "events"
    count: int = Field(1, ge=1, le=500)
    #: with count > 1, spread the copies this many seconds apart
    every_seconds: float = Field(60, ge=0)
    doc: dict[str, Any]


class Fixture(_Model):
    """Events in, expected status out. Timestamps like ``+2h`` / ``-3d`` are relative to the
    fixture period start (2026-11-24T00:00:00Z, one day)."""

    name: str = Field(min_length=3)
    expect: Literal["pass", "fail", "insufficient_data", "not_applicable"]
    docs: list[FixtureDoc] = Field(default_factory=list)
    #: fill every data source with benign heartbeat documents (default), except those listed
    silent: list[str] = Field(default_factory=list)
    fill: bool = True
    #: merged over the example inventory (top-level keys replaced)
    inventory: dict[str, Any] | None = None
    expect_failed: int | None = Field(None, ge=0)


class Control(_Model):
    id: str = Field(pattern=r"^CHK-\d{2,3}$")
    name: str = Field(min_length=5)
    description: str = Field(min_length=10)
    requirements: list[str] = Field(min_length=1)
    mode: Literal["automated", "manual"] = "automated"
    data_sources: list[str] = Field(default_factory=list)
    optional_inventory: list[str] = Field(default_factory=list)
    #: an inventory declaration that makes the control not applicable (``no_wireless``: the
    #: inventory says ``wireless: none``), which is not the same as a list left empty
    not_applicable_if: Literal["no_wireless"] | None = None
    checks: list[Check] = Field(default_factory=list)
    pass_criteria: str = Field(min_length=5)
    evidence: str = Field(min_length=5)
    remediation: str = Field(min_length=5)
    references: list[str] = Field(default_factory=list)
    fixtures: list[Fixture] = Field(default_factory=list)
    path: str = ""

    @model_validator(mode="after")
    def _mode(self) -> Control:
        if self.mode == "automated":
            if not self.checks:
                raise ValueError("checks: an automated control needs at least one check")
            if not any(f.expect == "fail" for f in self.fixtures) or \
                    not any(f.expect == "pass" for f in self.fixtures):
                raise ValueError("fixtures: an automated control needs a passing and a failing "
                                 "(negative) fixture")
        elif self.checks:
            raise ValueError("checks: a manual control has no checks")
        names = [c.name for c in self.checks]
        if len(set(names)) != len(names):
            raise ValueError("checks: check names must be unique")
        return self

    @property
    def inventory_keys(self) -> set[str]:
        """``$inventory.<key>`` names the checks use."""
        found: set[str] = set()
        for check in self.checks:
            for name, _ in placeholders(check.model_dump()):
                if name.startswith("inventory."):
                    found.add(name.split(".", 1)[1])
        return found

    @property
    def required_inventory(self) -> set[str]:
        return self.inventory_keys - set(self.optional_inventory)


class Source(_Model):
    """A named data source: which documents, and the bucket size its coverage is measured in."""

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    description: str
    kind: Literal["events", "changes", "findings", "deadletter", "inventory"]
    query: Query
    interval: str = "1h"
    min_coverage: float = Field(1.0, gt=0, le=1)
    #: benign documents used by fixtures and scenario tests to fill the period
    heartbeat: list[dict[str, Any]] = Field(min_length=1)

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        if not _DURATION.match(value):
            raise ValueError("expected a duration like 1h or 1d")
        return value


def placeholders(value: Any, path: str = "") -> list[tuple[str, str]]:
    """(``inventory.key`` / ``period.key``, location) of every placeholder in a structure."""
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(placeholders(item, f"{path}.{key}" if path else str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(placeholders(item, f"{path}[{index}]"))
    elif isinstance(value, str) and value.startswith("$"):
        match = _PLACEHOLDER.match(value)
        found.append((f"{match.group(1)}.{match.group(2)}" if match else value, path))
    return found


def _check_placeholders(data: dict[str, Any], where: str) -> list[str]:
    problems = []
    for name, location in placeholders(data.get("checks") or []):
        scope, _, key = name.partition(".")
        if scope == "inventory" and key in _INVENTORY_KEYS:
            continue
        if scope == "period" and key in _PERIOD_KEYS:
            continue
        problems.append(f"{where}: checks{location}: unknown placeholder {name!r}")
    return problems


def default_controls_dir() -> Path:
    return rules_dir() / "pci" / "controls"


def default_sources_path() -> Path:
    return rules_dir() / "pci" / "sources.yaml"


#: union tags pydantic puts in a check's error path (one per check kind)
_CHECK_TAGS = ("no_matches", "each_present", "max_age", "ratio", "reconcile", "streak",
               "retention", "clock_skew")


def load_control_file(path: Path, sources: dict[str, Source] | None = None) -> Control:
    try:
        data = load_yaml(path)
    except YamlError as exc:
        raise RuleError(str(exc)) from None
    if not isinstance(data, dict):
        raise RuleError(f"{path}: (top level): expected a mapping")
    where = f"{path}: {data.get('id', '<no id>')}"
    problems = _check_placeholders(data, where)
    try:
        control = Control.model_validate({**data, "path": str(path)})
    except ValidationError as exc:
        raise RuleError("\n".join(problem_lines(exc, str(path), str(data.get("id", "<no id>")),
                                               drop=_CHECK_TAGS) + problems)) from None
    if path.stem != control.id:
        problems.append(f"{where}: id: file name must be {control.id}.yaml")
    if sources is not None:
        for name in control.data_sources:
            if name not in sources:
                problems.append(f"{where}: data_sources: unknown source {name!r} "
                                f"(known: {', '.join(sorted(sources))})")
        for fixture in control.fixtures:
            for name in fixture.silent:
                if name not in sources:
                    problems.append(f"{where}: fixtures.{fixture.name}: silent: unknown source {name!r}")
    for key in control.optional_inventory:
        if key not in _INVENTORY_KEYS:
            problems.append(f"{where}: optional_inventory: unknown inventory key {key!r}")
    if problems:
        raise RuleError("\n".join(problems))
    return control


def load_sources(path: str | Path | None = None) -> dict[str, Source]:
    path = Path(path) if path is not None else default_sources_path()
    try:
        data = load_yaml(path)
    except YamlError as exc:
        raise RuleError(str(exc)) from None
    if not isinstance(data, dict) or not isinstance(data.get("sources"), dict):
        raise RuleError(f"{path}: sources: expected a mapping of source name → definition")
    out: dict[str, Source] = {}
    problems: list[str] = []
    for name, body in data["sources"].items():
        try:
            out[name] = Source.model_validate({**(body or {}), "name": name})
        except ValidationError as exc:
            problems.extend(problem_lines(exc, str(path), f"source {name}", drop=_CHECK_TAGS,
                                          prefix=("sources", name)))
    if problems:
        raise RuleError("\n".join(problems))
    return out


def load_controls(folder: str | Path | None = None, sources: dict[str, Source] | None = None
                  ) -> list[Control]:
    """Every ``CHK-*.yaml`` in ``folder``, sorted by id; all problems reported together."""
    folder = Path(folder) if folder is not None else default_controls_dir()
    if sources is None:
        sources = load_sources(folder.parent / "sources.yaml")
    controls: list[Control] = []
    problems: list[str] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            controls.append(load_control_file(path, sources))
        except RuleError as exc:
            problems.append(str(exc))
    ids = [c.id for c in controls]
    for dupe in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"{folder}: {dupe}: id used by more than one file")
    names = [c.name for c in controls]
    for dupe in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{folder}: name {dupe!r} used by more than one control")
    if problems:
        raise RuleError("\n".join(problems))
    return sorted(controls, key=lambda c: c.id)

