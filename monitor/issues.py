"""Pydantic's validation errors as this project's issues (file, id, dotted field path, expected, got).

One formatter for every file a user writes (rules, exceptions, controls, inventory), so a message
reads the same whichever loader found it.
"""
from __future__ import annotations

from pydantic import ValidationError

from .errors import RuleIssue

__all__ = ["issues_from_validation"]


def issues_from_validation(exc: ValidationError, file: str, rule_id: str) -> list[RuleIssue]:
    """Turn pydantic's errors into :class:`RuleIssue` values with dotted field paths."""
    issues = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        got_text = "" if isinstance(got, (dict, list)) or got is None else repr(got)[:80]
        if err["type"] == "extra_forbidden":
            msg, got_text = "unknown field (typo?)", ""
        elif err["type"] == "missing":
            msg, got_text = "required field missing", ""
        issues.append(RuleIssue(file, rule_id, loc, msg, got_text))
    return issues
