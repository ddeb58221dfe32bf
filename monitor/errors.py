"""The one exception tree of the monitor. Third-party errors are translated at the edge.

::

    MonitorError
    ├── ConfigError          a settings file is wrong (file, field path, expected)
    ├── RuleError            a rule / control / inventory file is wrong (file, rule id, field)
    │   └── RuleValidationError  every RuleIssue of a file (or a set of files)
    ├── StoreError           Elasticsearch said no (store/ translates elasticsearch.* errors)
    │   ├── StoreUnavailable     cannot reach it, or it keeps answering 429/5xx: spool and retry
    │   └── ConflictError        optimistic concurrency lost (seq_no / primary_term moved)
    └── SourceError          an external system failed (Check Point API, git, forges)

Callers catch at the level they care about; nothing above ``store/`` and ``sources/`` catches
an ``elasticsearch``, ``httpx`` or ``subprocess`` exception type.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MonitorError",
    "ConfigError",
    "ConfigIssue",
    "RuleError",
    "RuleIssue",
    "RuleValidationError",
    "StoreError",
    "StoreUnavailable",
    "ConflictError",
    "SourceError",
]


class MonitorError(Exception):
    """Base of every error the monitor raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a settings file: where, what was expected, what was found."""

    file: str
    field: str
    expected: str
    got: str = ""

    def __str__(self) -> str:
        got = f" (got {self.got})" if self.got else ""
        return f"{self.file}: {self.field}: {self.expected}{got}"


class ConfigError(MonitorError):
    """A settings file cannot be used. ``issues`` lists every problem found, not just the first."""

    def __init__(self, issues: list[ConfigIssue]):
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


class RuleError(MonitorError):
    """A rule, control, exception or inventory file is invalid."""


@dataclass(frozen=True, slots=True)
class RuleIssue:
    """One problem: where (file, rule id, field path), what was expected, what was found."""

    file: str
    rule_id: str
    field: str
    expected: str
    got: str = ""

    def __str__(self) -> str:
        got = f" (got {self.got})" if self.got else ""
        rid = f" [{self.rule_id}]" if self.rule_id else ""
        return f"{self.file}{rid}: {self.field or '<root>'}: {self.expected}{got}"


class RuleValidationError(RuleError):
    """A rule file (or a set of files) is invalid; ``issues`` holds every problem found."""

    def __init__(self, issues: list[RuleIssue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class StoreError(MonitorError):
    """Elasticsearch rejected a request in a way retrying will not fix."""


class StoreUnavailable(StoreError):
    """Elasticsearch cannot be reached or keeps refusing load; the caller should spool."""


class ConflictError(StoreError):
    """A compare-and-set on a state document lost: someone else wrote it first."""


class SourceError(MonitorError):
    """An external source (Check Point API, git, a forge) failed."""
