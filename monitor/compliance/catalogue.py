"""The requirements catalogue (``rules/pci/requirements.yaml``): load and validate.

    load_catalogue(path=None) -> Catalogue        # RuleError naming file, requirement and field
    Catalogue.requirement(id) / .ids / .framework
    lint_catalogue(catalogue, controls) -> list[str]   # cross-checks with the control files

Every requirement in scope must name at least one control or a ``manual`` evidence note, so a
report always shows every requirement, covered or not.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import RuleError
from ..resources import rules_dir
from ..yamlio import YamlError, load_yaml

if TYPE_CHECKING:
    from .controls import Control

__all__ = [
    "IN_SCOPE_PREFIXES",
    "Catalogue",
    "Requirement",
    "default_catalogue_path",
    "lint_catalogue",
    "load_catalogue",
]

_ID = re.compile(r"^\d{1,2}(\.\d{1,2}){1,4}$")
_CONTROL_ID = re.compile(r"^CHK-\d{2,3}$")
#: the requirement families in scope for this monitor (issue 6)
IN_SCOPE_PREFIXES = ("1.2.", "1.3.", "1.4.", "6.2.3.1", "6.5.", "8.2.", "8.3.", "10.", "11.5.",
                     "12.10.")
_KEYS = {"id", "title", "controls", "manual"}


def default_catalogue_path() -> Path:
    return rules_dir() / "pci" / "requirements.yaml"


@dataclass(frozen=True, slots=True)
class Requirement:
    id: str
    title: str
    controls: tuple[str, ...] = ()
    manual: str = ""

    @property
    def section(self) -> str:
        """``1.2`` for ``1.2.8``; ``10.2`` for ``10.2.1.4``."""
        return ".".join(self.id.split(".")[:2])


@dataclass(frozen=True, slots=True)
class Catalogue:
    framework: str
    version: str
    requirements: tuple[Requirement, ...]
    path: str = ""

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.requirements)

    def requirement(self, requirement_id: str) -> Requirement:
        for requirement in self.requirements:
            if requirement.id == requirement_id:
                return requirement
        raise KeyError(requirement_id)


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    path = Path(path) if path is not None else default_catalogue_path()
    try:
        data = load_yaml(path)
    except YamlError as exc:
        raise RuleError(str(exc)) from None
    problems: list[str] = []
    if not isinstance(data, dict):
        raise RuleError(f"{path}: (top level): expected a mapping")
    unknown = set(data) - {"framework", "version", "requirements"}
    if unknown:
        problems.append(f"{path}: {min(unknown)}: unknown key")
    framework = data.get("framework")
    if framework != "pci-dss-4.0.1":
        problems.append(f"{path}: framework: expected 'pci-dss-4.0.1', got {framework!r}")
    entries = data.get("requirements")
    if not isinstance(entries, list) or not entries:
        raise RuleError("\n".join(problems + [f"{path}: requirements: expected a non-empty list"]))
    requirements: list[Requirement] = []
    seen: set[str] = set()
    for position, entry in enumerate(entries):
        where = f"{path}: requirements[{position}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a mapping")
            continue
        rid = entry.get("id")
        if isinstance(rid, (int, float)):
            problems.append(f"{where}: id: quote it as a string (YAML reads {rid!r} as a number)")
            continue
        if not isinstance(rid, str) or not _ID.match(rid):
            problems.append(f"{where}: id: expected a requirement number like '1.2.8', got {rid!r}")
            continue
        where = f"{path}: requirement {rid}"
        for key in sorted(set(entry) - _KEYS):
            problems.append(f"{where}: {key}: unknown key")
        if rid in seen:
            problems.append(f"{where}: id: listed twice")
        seen.add(rid)
        if not rid.startswith(IN_SCOPE_PREFIXES):
            problems.append(f"{where}: id: outside the families in scope ({', '.join(IN_SCOPE_PREFIXES)})")
        title = entry.get("title")
        if not isinstance(title, str) or len(title.strip()) < 5:
            problems.append(f"{where}: title: expected a short title")
            title = ""
        controls = entry.get("controls") or []
        if not isinstance(controls, list) or not all(isinstance(c, str) and _CONTROL_ID.match(c)
                                                     for c in controls):
            problems.append(f"{where}: controls: expected a list of ids like CHK-01")
            controls = []
        if len(set(controls)) != len(controls):
            problems.append(f"{where}: controls: a control is listed twice")
        manual = entry.get("manual") or ""
        if not isinstance(manual, str):
            problems.append(f"{where}: manual: expected text naming the evidence")
            manual = ""
        if not controls and not manual.strip():
            problems.append(f"{where}: needs at least one control or a 'manual' evidence note")
        requirements.append(Requirement(rid, title.strip(), tuple(controls), manual.strip()))
    if problems:
        raise RuleError("\n".join(problems))
    return Catalogue(str(framework), str(data.get("version", "")), tuple(requirements), str(path))


def lint_catalogue(catalogue: Catalogue, controls: list[Control]) -> list[str]:
    """Cross-file problems: unknown ids on either side, mappings that disagree."""
    problems: list[str] = []
    by_id = {c.id: c for c in controls}
    req_ids = set(catalogue.ids)
    for requirement in catalogue.requirements:
        for control_id in requirement.controls:
            control = by_id.get(control_id)
            if control is None:
                problems.append(f"{catalogue.path}: requirement {requirement.id}: controls: "
                                f"no control file for {control_id}")
            elif requirement.id not in control.requirements:
                problems.append(f"{catalogue.path}: requirement {requirement.id}: controls: "
                                f"{control_id} does not list {requirement.id} in its requirements")
    for control in controls:
        for requirement_id in control.requirements:
            if requirement_id not in req_ids:
                problems.append(f"{control.path}: {control.id}: requirements: {requirement_id} "
                                f"is not in {catalogue.path}")
                continue
            if control.id not in catalogue.requirement(requirement_id).controls:
                problems.append(f"{control.path}: {control.id}: requirements: {requirement_id} "
                                f"does not list {control.id} in the catalogue")
    return problems
