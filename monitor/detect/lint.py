"""Pack lint: checks across rules that the schema alone cannot make.

``lint(ruleset, requirements_file=None) -> list[RuleIssue]``

* ATT&CK: every tactic and technique id exists in the pinned ``data/attack.yaml`` and each
  technique belongs to the tactic it is listed under;
* PCI DSS: every ``pci_dss_v4_0_1`` id exists in the requirements catalogue
  (``rules/pci/requirements.yaml``, written by the compliance side). While that file does not
  exist the check is skipped (``requirements_ids`` returns None) and says so;
* triage note has a heading and the word "triage"; fixtures file present next to the rule.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from ..resources import rules_dir
from ..yamlio import load_yaml
from .loader import RuleSet, fixtures_path
from .schema import RuleIssue

__all__ = ["lint", "attack_data", "requirements_ids", "default_requirements_file"]

_ATTACK = Path(__file__).resolve().parent / "data" / "attack.yaml"


@functools.cache
def attack_data() -> dict[str, Any]:
    """The pinned ATT&CK subset: ``{"version", "tactics": {id: name}, "techniques": {...}}``."""
    return load_yaml(_ATTACK)


def default_requirements_file() -> Path:
    return rules_dir() / "pci" / "requirements.yaml"


def requirements_ids(path: Path | None = None) -> set[str] | None:
    """Requirement ids in the catalogue, or None when the file does not exist yet.

    Accepts a top-level list or a ``requirements:`` key holding either a list of mappings with
    ``id`` or a mapping keyed by id; nested ``children``/``requirements`` lists are walked.
    """
    path = path or default_requirements_file()
    if not path.is_file():
        return None
    data = load_yaml(path)
    ids: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if "id" in node and isinstance(node["id"], (str, int, float)):
                ids.add(str(node["id"]))
            for key, value in node.items():
                if key in ("requirements", "children", "sub", "items"):
                    if isinstance(value, dict):
                        for rid, sub in value.items():
                            ids.add(str(rid))
                            walk(sub)
                    else:
                        walk(value)

    walk(data if not isinstance(data, dict) or "requirements" in data else {"requirements": data})
    return ids


def lint(ruleset: RuleSet, requirements_file: Path | None = None, *,
         require_fixtures: bool = True) -> list[RuleIssue]:
    attack = attack_data()
    tactics, techniques = attack["tactics"], attack["techniques"]
    pci = requirements_ids(requirements_file)
    issues: list[RuleIssue] = []
    for entry in ruleset.rules:
        rule, file = entry.rule, str(entry.path)
        for i, mapping in enumerate(rule.threat):
            if mapping.tactic not in tactics:
                issues.append(RuleIssue(file, rule.id, f"threat.{i}.tactic",
                                        f"an ATT&CK tactic id in {attack['version']}", mapping.tactic))
            for tech in mapping.techniques:
                info = techniques.get(tech)
                if info is None:
                    issues.append(RuleIssue(file, rule.id, f"threat.{i}.techniques",
                                            f"an ATT&CK technique id in {attack['version']}", tech))
                elif mapping.tactic not in info["tactics"]:
                    issues.append(RuleIssue(file, rule.id, f"threat.{i}.techniques",
                                            f"{tech} ({info['name']}) belongs to "
                                            f"{', '.join(info['tactics'])}", mapping.tactic))
        if not rule.pci_dss_v4_0_1:
            issues.append(RuleIssue(file, rule.id, "pci_dss_v4_0_1",
                                    "at least one PCI DSS v4.0.1 requirement id"))
        elif pci is not None:
            for req in rule.pci_dss_v4_0_1:
                if req not in pci:
                    issues.append(RuleIssue(file, rule.id, "pci_dss_v4_0_1",
                                            "a requirement id listed in the requirements file", req))
        if not rule.threat:
            issues.append(RuleIssue(file, rule.id, "threat", "at least one ATT&CK mapping"))
        note = rule.note.lower()
        if "triage" not in note or "#" not in note:
            issues.append(RuleIssue(file, rule.id, "note",
                                    "a markdown triage guide (a heading and a 'Triage' section)"))
        if require_fixtures and not fixtures_path(entry.path).is_file():
            issues.append(RuleIssue(file, rule.id, "fixtures",
                                    f"a fixtures file {fixtures_path(entry.path).name}"))
    return issues
