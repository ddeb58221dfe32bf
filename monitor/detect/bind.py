"""Bind a rule to the inventory: expand its ``$inventory`` sets and inventory calendar.

A rule names what it needs from the organisation (``$inventory.cde_networks``,
``calendar: {inventory: change_windows}``); ``bind(rule, inventory)`` returns the rule with
those values in place (terms/CIDR clauses and ``@timestamp`` windows, never text) and the
inventory's digest in ``bound_inventory``, so each finding records the inventory version
that judged it. The engine binds at every run, so a changed inventory applies at the next run.

A rule whose required set is empty (or with no inventory at all) is not bound: it cannot be
judged, and evaluating it anyway would either match nothing (a silent pass) or everything.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from ..inventory.expand import expand, placeholder_names
from ..inventory.model import ChangeWindow, Inventory
from ..inventory.reconcile import repos_by_origin
from .schema import Rule, Window

__all__ = ["Bound", "bind", "bind_all", "inventory_needs"]

_DAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}


@dataclass(frozen=True, slots=True)
class Bound:
    """``rule`` ready to compile, or ``None`` with ``missing`` naming what the inventory lacks."""

    rule: Rule | None
    missing: tuple[str, ...] = ()


def _texts(rule: Rule) -> list[Any]:
    parts: list[Any] = [rule.query_dsl, list(rule.filters)]
    if rule.sequence is not None:
        parts += [s.query_dsl for s in rule.sequence.steps]
    if rule.reconcile is not None:
        parts.append(rule.reconcile.b.query_dsl)
    return parts


def inventory_needs(rule: Rule) -> list[str]:
    """The inventory keys a rule names (placeholders and its calendar), sorted, unique."""
    names = set(placeholder_names(_texts(rule)))
    if rule.calendar is not None and rule.calendar.inventory:
        names.add(rule.calendar.inventory)
    return sorted(names)


def _window(window: ChangeWindow) -> Window:
    end = "24:00" if window.end.strftime("%H:%M") == "23:59" else window.end.strftime("%H:%M")
    return Window(days=tuple(sorted(_DAYS[d] for d in window.days)),
                  hours=f"{window.start.strftime('%H:%M')}-{end}")


def bind(rule: Rule, inventory: Inventory | None, at: date | None = None,
         digest: str | None = None) -> Bound:
    needs = inventory_needs(rule)
    if not needs:
        return Bound(rule)
    if inventory is None:
        missing = tuple(n for n in needs if n not in rule.optional_inventory)
        if missing:
            return Bound(None, missing)
        # only optional sets (exclusions): without an inventory they are empty
        return Bound(_expanded(rule, {n: [] for n in needs}, {}, None))
    params = inventory.params(at=at)
    calendars = {"change_windows": inventory.change_windows,
                 "business_hours": inventory.business_hours}
    missing = tuple(n for n in needs if n not in rule.optional_inventory
                    and (calendars[n] if n in calendars else params.get(n)) in (None, [], "", {}))
    if missing:
        return Bound(None, missing)
    return Bound(_expanded(rule, params, calendars, digest or inventory.digest()))


def _expanded(rule: Rule, params: dict[str, Any], calendars: dict[str, list[ChangeWindow]],
              digest: str | None) -> Rule:
    update: dict[str, Any] = {"bound_inventory": digest}
    if rule.query_dsl is not None:
        update["query_dsl"] = expand(rule.query_dsl, params)
    if rule.filters:
        update["filters"] = tuple(expand(list(rule.filters), params))
    if rule.sequence is not None:
        update["sequence"] = rule.sequence.model_copy(update={"steps": tuple(
            s.model_copy(update={"query_dsl": expand(s.query_dsl, params)})
            if s.query_dsl is not None else s for s in rule.sequence.steps)})
    if rule.reconcile is not None:
        b = rule.reconcile.b
        if b.query_dsl is not None:
            b = b.model_copy(update={"query_dsl": expand(b.query_dsl, params)})
        # the per-server repository binding of the one reconciliation (inventory/reconcile.py)
        update["reconcile"] = rule.reconcile.model_copy(update={
            "b": b, "repos_by_origin": repos_by_origin(params)})
    cal = rule.calendar
    if cal is not None and cal.inventory:
        windows = tuple(_window(w) for w in calendars[cal.inventory])
        update["calendar"] = cal.model_copy(update={"windows": windows, "timezone": "UTC"})
    return rule.model_copy(update=update)


def bind_all(rules: list[Rule], inventory: Inventory | None, at: date | None = None
             ) -> tuple[list[Rule], dict[str, tuple[str, ...]]]:
    """(bound rules, rule id → missing inventory keys of the rules that could not be bound)."""
    digest = inventory.digest() if inventory is not None else None
    ready: list[Rule] = []
    unbound: dict[str, tuple[str, ...]] = {}
    for rule in rules:
        result = bind(rule, inventory, at, digest)
        if result.rule is None:
            unbound[rule.id] = result.missing
        else:
            ready.append(result.rule)
    return ready, unbound
