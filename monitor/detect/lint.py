"""Pack lint: checks across rules that the schema alone cannot make.

``lint(ruleset, requirements_file=None) -> list[RuleIssue]``

* ATT&CK: every tactic and technique id exists in the pinned ``data/attack.yaml`` and each
  technique belongs to the tactic it is listed under;
* PCI DSS: every ``pci_dss_v4_0_1`` id exists in the requirements catalogue
  (``rules/pci/requirements.yaml``, written by the compliance side). While that file does not
  exist the check is skipped (``requirements_ids`` returns None) and says so;
* triage note has a heading and the word "triage"; fixtures file present next to the rule;
* inventory: every ``$inventory.<key>`` is a key the inventory provides; a ``stable`` rule holds
  no literal private network (RFC 1918 / ULA address or CIDR) and no literal calendar: the
  organisation's networks and calendars are inventory data, and a rule that hard-codes them
  is silently wrong on every other network.
"""
from __future__ import annotations

import functools
import ipaddress
import re
from pathlib import Path
from typing import Any

from ..inventory.expand import is_known_key, placeholder_names
from ..resources import rules_dir
from ..yamlio import load_yaml
from .bind import inventory_needs
from .loader import RuleSet, fixtures_path
from .schema import Rule, RuleIssue

__all__ = [
    "attack_data",
    "default_requirements_file",
    "inventory_issues",
    "lint",
    "literal_networks",
    "requirements_ids",
]

#: an IPv4 address or CIDR inside any text (query strings escape the slash: 10.0.0.0\\/8)
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?:\\?/(\d{1,2}))?(?![\d.])")


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *_strings(v))]
    if isinstance(value, (list, tuple)):
        return [s for item in value for s in _strings(item)]
    return [str(value)] if value is not None else []


def literal_networks(rule: Rule) -> list[str]:
    """Private (RFC 1918, link-local, ULA-style) addresses or networks written in the rule."""
    texts = _strings([rule.query, rule.query_dsl, list(rule.filters)])
    if rule.sequence is not None:
        texts += _strings([[s.query, s.query_dsl, s.where] for s in rule.sequence.steps])
    if rule.reconcile is not None:
        texts += _strings([rule.reconcile.b.query, rule.reconcile.b.query_dsl])
    found = []
    for text in texts:
        for match in _IPV4.finditer(text):
            try:
                address = ipaddress.ip_address(match.group(1))
            except ValueError:
                continue
            if address.is_private and not address.is_loopback:
                found.append(match.group(0).replace("\\", ""))
    return sorted(set(found))


def inventory_issues(rule: Rule, file: str) -> list[RuleIssue]:
    issues = []
    texts = [rule.query_dsl, list(rule.filters)]
    for key in placeholder_names(texts):
        if not is_known_key(key):
            issues.append(RuleIssue(file, rule.id, "filters",
                                    "an inventory key (see Inventory.params)", f"$inventory.{key}"))
    needs = set(inventory_needs(rule))
    for key in rule.optional_inventory:
        if key not in needs:
            issues.append(RuleIssue(file, rule.id, "optional_inventory",
                                    "a key the rule names", key))
    if rule.status == "stable":
        for literal in literal_networks(rule):
            issues.append(RuleIssue(file, rule.id, "query",
                                    "inventory sets ($inventory.cde_networks, ...) instead of a "
                                    "literal private network in a stable rule", literal))
        if rule.calendar is not None and rule.calendar.inventory is None:
            issues.append(RuleIssue(file, rule.id, "calendar",
                                    "calendar: {inventory: change_windows | business_hours} "
                                    "instead of literal days/hours in a stable rule",
                                    f"{rule.calendar.days} {rule.calendar.hours}"))
    return issues

_ATTACK = Path(__file__).resolve().parent / "data" / "attack.yaml"


@functools.cache
def attack_data() -> dict[str, Any]:
    """The pinned ATT&CK subset: ``{"version", "tactics": {id: name}, "techniques": {...}}``."""
    data: dict[str, Any] = load_yaml(_ATTACK)  # a mapping: the file ships with the package
    return data


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
        issues.extend(inventory_issues(rule, file))
        if require_fixtures and not fixtures_path(entry.path).is_file():
            issues.append(RuleIssue(file, rule.id, "fixtures",
                                    f"a fixtures file {fixtures_path(entry.path).name}"))
    return issues
