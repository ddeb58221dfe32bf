"""Exceptions (waivers) for findings, as YAML, each with justification, approver and expiry::

    exceptions:
      - id: EXC-2026-001
        rules: [6c1d...uuid]          # rule ids; omit for every rule
        match: {source.ip: 10.20.0.5} # the finding's group must carry these values
        justification: Quarterly ASV scan from the approved scanner
        approver: jane.doe (CISO)
        expires: 2026-12-31T23:59:59Z

A finding matched by an active exception is written with ``finding.exception`` and
``finding.suppressed: true``; once the exception expires, new findings are open again and the
waived ones read back as open (``effective_status``): expired exceptions resurface findings.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import RuleIssue, RuleValidationError
from ..issues import issues_from_validation
from ..yamlio import YamlError, load_yaml

__all__ = ["FindingException", "load_exceptions", "match_exception", "parse_exceptions"]


class FindingException(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=3, max_length=100)
    rules: tuple[str, ...] = ()
    match: dict[str, Any] = Field(default_factory=dict)
    justification: str = Field(min_length=10)
    approver: str = Field(min_length=2)
    expires: datetime

    @field_validator("expires", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime.combine(value, time(23, 59, 59), UTC)
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    def active(self, now: datetime) -> bool:
        return now < self.expires

    def applies(self, rule_id: str, group: dict[str, Any]) -> bool:
        if self.rules and rule_id not in self.rules:
            return False
        return all(str(group.get(k)) == str(v) for k, v in self.match.items())


def parse_exceptions(data: Any, file: str) -> list[FindingException]:
    items = data.get("exceptions") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise RuleValidationError([RuleIssue(file, "", "exceptions", "a list of exceptions")])
    issues: list[RuleIssue] = []
    out: list[FindingException] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        try:
            exc = FindingException.model_validate(item)
        except ValidationError as err:
            rule_id = str(item.get("id", "")) if isinstance(item, dict) else ""
            for issue in issues_from_validation(err, file, rule_id, prefix=("exceptions", i)):
                issues.append(RuleIssue(issue.file, issue.rule_id, f"exceptions.{i}.{issue.field}",
                                        issue.expected, issue.got, issue.line, issue.column))
            continue
        if exc.id in seen:
            issues.append(RuleIssue(file, exc.id, f"exceptions.{i}.id", "a unique id", exc.id))
        seen.add(exc.id)
        out.append(exc)
    if issues:
        raise RuleValidationError(issues)
    return out


def load_exceptions(path: str | Path | None) -> list[FindingException]:
    if path is None:
        return []
    try:
        data = load_yaml(path)
    except YamlError as exc:
        raise RuleValidationError([RuleIssue(str(path), "", "", str(exc))]) from None
    return parse_exceptions(data, str(path))


def match_exception(exceptions: list[FindingException], rule_id: str, group: dict[str, Any],
                    now: datetime) -> FindingException | None:
    for exc in exceptions:
        if exc.active(now) and exc.applies(rule_id, group):
            return exc
    return None
