"""Findings: build the document of a threat-rule hit, apply exceptions, write, and move it
through its lifecycle (open → acknowledged → closed, who and why kept in the document).

* ``build.finding_id(rule_id, group, window_start) -> str`` deterministic id;
* ``build.finding_doc(finding, *, evaluated, now) -> dict`` the ``findings`` document;
* ``exceptions.load_exceptions(path) -> list[FindingException]``; ``match_exception(...)``;
* ``store.write_findings(store, docs) -> WriteResult`` (``op_type=create``: an existing id is a
  duplicate, never a second finding); ``list_findings``, ``get_finding``, ``transition``.
"""
from .build import finding_doc, finding_id, group_key
from .exceptions import FindingException, load_exceptions, match_exception
from .store import (
    LIFECYCLE,
    WriteResult,
    effective_status,
    get_finding,
    list_findings,
    transition,
    write_findings,
)

__all__ = ["finding_doc", "finding_id", "group_key", "FindingException", "load_exceptions",
           "match_exception", "LIFECYCLE", "WriteResult", "effective_status", "get_finding",
           "list_findings", "transition", "write_findings"]
