"""Glue between the daemon and the packages it schedules (sources, rules, compliance, reports).

Each ``_wire_*`` function looks at the settings, imports its package lazily and turns its public
entry point into ``JobSpec``s (pull work, active instance only) or ``Service``s (receivers, every
instance). A package that is not installed yet, or a feature that is off, becomes a ``note`` the
daemon logs at start, never an import error: the daemon runs with whatever is there.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from .app import Components, Context

__all__ = ["build_components", "WIRES"]

log = logging.getLogger("monitor.daemon.adapters")

Wire = Callable[[Context, Components], None]


def build_components(ctx: Context) -> Components:
    """Everything the configured sources, rules, compliance and reports contribute.

    Raises ``RuleError`` / ``ConfigError`` when rules or controls are invalid, so that a reload
    keeps the running set."""
    components = Components()
    for wire in WIRES:
        wire(ctx, components)
    return components


WIRES: list[Wire] = []
