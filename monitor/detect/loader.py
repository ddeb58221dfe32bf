"""Load rule files: one YAML mapping per ``*.yaml`` (fixtures ``*.fixtures.yaml`` are skipped).

``load_rules(paths)`` returns a :class:`RuleSet` or raises :class:`RuleValidationError` with every
problem of every file (schema issues, duplicate YAML keys, duplicate ids or names naming both
files). Reading goes through :mod:`monitor.yamlio` (safe loader, duplicate keys refused).

The compliance engine reuses :func:`iter_rule_files` and :func:`load_mapping` for its controls.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..resources import rules_dir
from ..yamlio import YamlError, load_yaml
from .schema import Rule, RuleIssue, RuleValidationError, parse_rule

__all__ = [
    "LoadedRule",
    "RuleSet",
    "default_threat_dirs",
    "fixtures_path",
    "iter_rule_files",
    "load_mapping",
    "load_rules",
]

FIXTURE_SUFFIX = ".fixtures.yaml"


@dataclass(frozen=True, slots=True)
class LoadedRule:
    rule: Rule
    path: Path


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[LoadedRule, ...] = ()
    by_id: dict[str, LoadedRule] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Rule]:
        return (lr.rule for lr in self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, rule_id: str) -> Rule:
        try:
            return self.by_id[rule_id].rule
        except KeyError:
            raise KeyError(f"no rule with id {rule_id!r}") from None

    def path_of(self, rule_id: str) -> Path:
        return self.by_id[rule_id].path


def default_threat_dirs() -> list[Path]:
    return [rules_dir() / "threat"]


def fixtures_path(rule_path: Path) -> Path:
    return rule_path.with_name(rule_path.name.removesuffix(".yaml") + FIXTURE_SUFFIX)


def iter_rule_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Rule files under ``paths`` (files or folders, recursive), sorted, fixtures excluded."""
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        files = sorted(path.rglob("*.yaml")) if path.is_dir() else [path]
        for file in files:
            if file.name.endswith(FIXTURE_SUFFIX) or file.resolve() in seen:
                continue
            seen.add(file.resolve())
            yield file


def load_mapping(path: Path) -> tuple[dict[str, Any] | None, list[RuleIssue]]:
    """Strict-YAML load of one file that must hold a mapping."""
    try:
        data = load_yaml(path)
    except YamlError as exc:
        return None, [RuleIssue(str(path), "", "", str(exc).split(": ", 1)[-1],
                                line=exc.line, column=exc.column)]
    if not isinstance(data, dict):
        return None, [RuleIssue(str(path), "", "", "a mapping at the top level",
                                type(data).__name__)]
    return data, []


def load_rules(paths: Iterable[str | Path] | None = None) -> RuleSet:
    """Load and validate every rule; collect all issues, then raise once if any."""
    issues: list[RuleIssue] = []
    loaded: list[LoadedRule] = []
    by_id: dict[str, LoadedRule] = {}
    by_name: dict[str, LoadedRule] = {}
    for path in iter_rule_files(paths if paths is not None else default_threat_dirs()):
        data, problems = load_mapping(path)
        issues.extend(problems)
        if data is None:
            continue
        try:
            rule = parse_rule(data, str(path))
        except RuleValidationError as exc:
            issues.extend(exc.issues)
            continue
        entry = LoadedRule(rule, path)
        if rule.id in by_id:
            issues.append(RuleIssue(str(path), rule.id, "id", "a unique id",
                                    f"also used by {by_id[rule.id].path}"))
            continue
        if rule.name.lower() in by_name:
            issues.append(RuleIssue(str(path), rule.id, "name", "a unique name",
                                    f"also used by {by_name[rule.name.lower()].path}"))
            continue
        by_id[rule.id] = entry
        by_name[rule.name.lower()] = entry
        loaded.append(entry)
    if issues:
        raise RuleValidationError(issues)
    return RuleSet(tuple(loaded), by_id)
