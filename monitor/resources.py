"""Where the bundled data folders (``rules/``, ``reports/``) are.

In a source checkout they sit at the repository top level; in an installed wheel they travel
as ``monitor/_bundled/``. Both layouts resolve here, and only here.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["bundled_dir", "rules_dir", "reports_dir"]

_PACKAGE = Path(__file__).resolve().parent


def bundled_dir(name: str) -> Path:
    """Return the folder ``name`` (``rules`` or ``reports``) shipped with this installation."""
    for candidate in (_PACKAGE / "_bundled" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bundled folder {name!r} not found next to {_PACKAGE}")


def rules_dir() -> Path:
    return bundled_dir("rules")


def reports_dir() -> Path:
    return bundled_dir("reports")
