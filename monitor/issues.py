"""Pydantic's validation errors as this project's issues, with the place in the file.

One formatter for every file a user writes (rules, exceptions, controls, sources, inventory):
``describe`` turns one pydantic error into (dotted field path, message, value shown), and the
two builders add ``file:line:column`` by finding the field in the YAML file (``yamlio.locate``).
Loaders choose only the words for an unknown key and which union tags to leave out of a path.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import RuleIssue, place
from .yamlio import locate

__all__ = ["describe", "issues_from_validation", "problem_lines"]

UNKNOWN_FIELD = "unknown field (typo?)"
UNKNOWN_KEY = "unknown key (check spelling)"


def describe(err: Mapping[str, Any], *, unknown: str = UNKNOWN_FIELD,
             missing: str | None = "required field missing",
             drop: Collection[str] = ()) -> tuple[str, str, str]:
    """(dotted field path, message, value shown) of one pydantic error. Validator wrappers
    (``function-…``) and the union tags in ``drop`` are left out of the path; ``missing``
    replaces pydantic's "Field required" unless None."""
    loc = ".".join(str(p) for p in err["loc"]
                   if not str(p).startswith("function-") and str(p) not in drop)
    msg = str(err["msg"]).removeprefix("Value error, ")
    got = err.get("input")
    shown = "" if isinstance(got, (dict, list)) or got is None else repr(got)[:80]
    if err["type"] == "extra_forbidden":
        msg, shown = unknown, ""
    elif err["type"] == "missing":
        msg, shown = missing or msg, ""
    return loc, msg, shown


def _position(file: str, err: Mapping[str, Any], prefix: Sequence[str | int],
              drop: Collection[str]) -> tuple[int | None, int | None]:
    """Where the error's field is in ``file`` (an unknown key: the key itself)."""
    if not Path(file).is_file():
        return None, None
    loc = [*prefix, *(p for p in err["loc"]
                      if not str(p).startswith("function-") and str(p) not in drop)]
    found = locate(file, loc, key=err["type"] == "extra_forbidden")
    return found if found is not None else (None, None)


def issues_from_validation(exc: ValidationError, file: str, rule_id: str, *,
                           unknown: str = UNKNOWN_FIELD, drop: Collection[str] = (),
                           prefix: Sequence[str | int] = ()) -> list[RuleIssue]:
    """Every error of ``exc`` as a :class:`RuleIssue` with its place in ``file`` (``prefix``:
    where the validated mapping sits in the file)."""
    issues = []
    for err in exc.errors(include_url=False):
        loc, msg, shown = describe(err, unknown=unknown, drop=drop)
        line, column = _position(file, err, prefix, drop)
        issues.append(RuleIssue(file, rule_id, loc, msg, shown, line, column))
    return issues


def problem_lines(exc: ValidationError, file: str, label: str = "", *,
                  unknown: str = UNKNOWN_KEY, drop: Collection[str] = (),
                  prefix: Sequence[str | int] = ()) -> list[str]:
    """Every error of ``exc`` as ``file:line:column: label: field: message`` (the loaders of
    controls, sources and inventory raise ``RuleError`` with these lines)."""
    lines = []
    for err in exc.errors(include_url=False):
        loc, msg, _ = describe(err, unknown=unknown, missing=None, drop=drop)
        line, column = _position(file, err, prefix, drop)
        head = place(file, line, column) + (f": {label}" if label else "")
        lines.append(f"{head}: {loc or '(top level)'}: {msg}")
    return lines
