"""``$inventory.<key>`` placeholders in Query DSL: find them, expand them into the structure.

Used by threat rules (``detect/bind.py``) and compliance controls alike. Expansion replaces a
whole JSON value with the inventory's value (a list of CIDRs, names, a ready-made query
fragment); inside a list a list value splices (``terms: {ip: [a, $inventory.b]}``). Nothing is
ever pasted into query text, so an inventory value cannot change a query's structure.
"""
from __future__ import annotations

import re
from typing import Any

from .model import Inventory

__all__ = ["PLACEHOLDER", "expand", "is_known_key", "known_keys", "placeholder_names"]

PLACEHOLDER = re.compile(r"^\$inventory\.([a-z_]+)$")
_ROLE_KEY = re.compile(r"^zone_[a-z][a-z0-9_]*_networks$")


def known_keys() -> frozenset[str]:
    return frozenset(Inventory().params())


def is_known_key(key: str) -> bool:
    """A key of ``Inventory.params()``, or ``zone_<role>_networks`` (roles are the inventory's)."""
    return key in known_keys() or bool(_ROLE_KEY.match(key))


def placeholder_names(value: Any) -> list[str]:
    """Every ``$inventory.<key>`` key named in a structure, in order (``$other`` text too, so
    a caller can report it)."""
    found: list[str] = []
    if isinstance(value, dict):
        for item in value.values():
            found += placeholder_names(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            found += placeholder_names(item)
    elif isinstance(value, str) and value.startswith("$inventory."):
        match = PLACEHOLDER.match(value)
        found.append(match.group(1) if match else value)
    return found


def expand(value: Any, params: dict[str, Any]) -> Any:
    """``value`` with each placeholder replaced by ``params[key]`` (``KeyError`` if absent)."""
    if isinstance(value, dict):
        return {k: expand(v, params) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        out: list[Any] = []
        for item in value:
            replaced = expand(item, params)
            if isinstance(item, str) and PLACEHOLDER.match(item) and isinstance(replaced, list):
                out.extend(replaced)
            else:
                out.append(replaced)
        return out
    if isinstance(value, str):
        match = PLACEHOLDER.match(value)
        if match is not None:
            key = match.group(1)
            if key not in params:
                if _ROLE_KEY.match(key):
                    return []  # a role no zone has: an empty set
                raise KeyError(key)
            return params[key]
    return value
