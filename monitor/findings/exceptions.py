"""One exceptions file, one schema: finding exceptions and control waivers together.

Every entry carries a justification, an approver and an expiry (all required)::

    exceptions:
      - id: EXC-2026-001
        rules: [6c1d...uuid]          # a finding exception: rule ids (omit for every rule)
        match: {source.ip: 10.20.0.5} # the finding's group must carry these values
        justification: Quarterly ASV scan from the approved scanner
        approver: jane.doe (CISO)
        expires: 2026-12-31T23:59:59Z
      - id: W-2026-004
        control: CHK-05               # a control waiver (or requirement: 6.3.3)
        justification: runner upgrade pending, compensating review weekly
        approver: ciso
        expires: 2026-11-30

The rule engine applies the finding exceptions, the compliance evaluator and the report the
control waivers, and ``monitor config check`` validates the file: all through
``load_exceptions``, so they cannot disagree about what an entry means.

A finding matched by an active exception is written with ``finding.exception`` and
``finding.suppressed: true``; once the exception expires, new findings are open again and the
waived ones read back as open (``effective_status``): expired exceptions resurface findings.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import RuleIssue, RuleValidationError
from ..issues import issues_from_validation
from ..yamlio import YamlError, load_yaml

__all__ = ["FindingException", "active_waivers", "load_exceptions", "match_exception",
           "parse_exceptions"]


class FindingException(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=3, max_length=100)
    rules: tuple[str, ...] = ()
    match: dict[str, Any] = Field(default_factory=dict)
    #: a control waiver instead: the control id (``CHK-05``) or a requirement (``6.3.3``)
    control: str | None = Field(None, pattern=r"^CHK-\d{2,3}$")
    requirement: str | None = Field(None, pattern=r"^\d{1,2}(\.\d{1,2}){0,3}$")
    justification: str = Field(min_length=10)
    approver: str = Field(min_length=2)
    expires: datetime
    granted: datetime | None = None

    @model_validator(mode="after")
    def _one_target(self) -> FindingException:
        waiver = self.control is not None or self.requirement is not None
        if waiver and (self.rules or self.match):
            raise ValueError("an entry waives a control (control/requirement) or excepts "
                             "findings (rules/match), not both")
        if self.control is not None and self.requirement is not None:
            raise ValueError("give control or requirement, not both")
        return self

    @property
    def kind(self) -> str:
        """``control`` (a waiver of a control's failure) or ``finding``."""
        return "control" if self.control or self.requirement else "finding"

    @property
    def target(self) -> str:
        if self.kind == "control":
            return str(self.control or self.requirement)
        rules = "rules " + ", ".join(self.rules) if self.rules else "every threat rule"
        return rules + "".join(f"; {k}={v}" for k, v in
                               sorted(self.match.items(), key=lambda kv: str(kv[0])))

    def waives(self, control: str, requirements: tuple[str, ...] | list[str]) -> bool:
        return self.control == control or (self.requirement is not None
                                           and self.requirement in requirements)

    @field_validator("expires", "granted", mode="before")
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
        if self.kind != "finding":
            return False
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


def active_waivers(exceptions: list[FindingException], control: str,
                   requirements: tuple[str, ...] | list[str], at: datetime
                   ) -> list[FindingException]:
    """Control waivers covering ``control`` still in force at ``at`` (expired ones resurface:
    the failure counts again)."""
    return [e for e in exceptions if e.kind == "control" and e.active(at)
            and e.waives(control, requirements)]
