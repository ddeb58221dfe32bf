"""The one exception tree of the monitor. Third-party errors are translated at the edge.

::

    MonitorError
    ├── ConfigError              a settings file is wrong (every ConfigIssue: file:line:col, field)
    ├── YamlError                a file is not YAML we accept (file:line:col; also a ValueError)
    ├── RuleError                a rule / control / exception / inventory file is wrong
    │   └── RuleValidationError      every RuleIssue of a file or a set (file:line:col, id, field)
    ├── StoreError               Elasticsearch said no (store/ translates elasticsearch.* errors)
    │   ├── StoreUnavailable         cannot reach it, or it keeps answering 429/5xx: spool, retry
    │   └── ConflictError            optimistic concurrency lost (seq_no / primary_term moved)
    ├── SourceError              an external system failed (Check Point API, git, forges)
    │   ├── ApiRefused               the Check Point API refused (sources/checkpoint_api.py)
    │   ├── DowngradeRefused         a redirect or answer would drop TLS (sources/httpclient.py)
    │   ├── ForgeError               GitHub / GitLab / Argo CD failed (sources/forges/http.py)
    │   └── GitError                 git failed, timed out or printed nonsense (sources/git/)
    ├── SigmaUnavailable         the optional Sigma converter is not installed
    ├── RuleSearchError          a rule's search failed (detect/drive.py)
    ├── ChromiumError            the PDF renderer failed (reports/pdf.py)
    └── StartupError             the daemon cannot start (daemon/app.py)

Callers catch at the level they care about; nothing above ``store/`` and ``sources/`` catches
an ``elasticsearch``, ``httpx`` or ``subprocess`` exception type. Where an error comes from a
file, it names the place as ``file:line:column`` (``line`` and ``column`` from 1).
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
    "SigmaUnavailable",
    "SourceError",
    "YamlError",
    "place",
]


class MonitorError(Exception):
    """Base of every error the monitor raises on purpose."""


def place(file: str, line: int | None = None, column: int | None = None) -> str:
    """``file:line:column`` (or less, when the position is not known)."""
    if line is None:
        return file
    return f"{file}:{line}:{column}" if column is not None else f"{file}:{line}"


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a settings file: where, what was expected, what was found."""

    file: str
    field: str
    expected: str
    got: str = ""
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        got = f" (got {self.got})" if self.got else ""
        return f"{place(self.file, self.line, self.column)}: {self.field}: {self.expected}{got}"


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
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        got = f" (got {self.got})" if self.got else ""
        rid = f" [{self.rule_id}]" if self.rule_id else ""
        where = place(self.file, self.line, self.column)
        return f"{where}{rid}: {self.field or '<root>'}: {self.expected}{got}"


class RuleValidationError(RuleError):
    """A rule file (or a set of files) is invalid; ``issues`` holds every problem found."""

    def __init__(self, issues: list[RuleIssue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class YamlError(MonitorError, ValueError):
    """The text is not YAML we accept (syntax, a duplicate key, an unreadable file); the message
    starts with ``file:line:column``, also kept as attributes."""

    def __init__(self, message: str, file: str = "", line: int | None = None,
                 column: int | None = None) -> None:
        super().__init__(message)
        self.file, self.line, self.column = file, line, column


class SigmaUnavailable(MonitorError):
    """pySigma (the optional ``sigma`` extra) is not installed."""


class StoreError(MonitorError):
    """Elasticsearch rejected a request in a way retrying will not fix."""


class StoreUnavailable(StoreError):
    """Elasticsearch cannot be reached or keeps refusing load; the caller should spool."""


class ConflictError(StoreError):
    """A compare-and-set on a state document lost: someone else wrote it first."""


class SourceError(MonitorError):
    """An external source (Check Point API, git, a forge) failed."""
