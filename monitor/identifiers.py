"""Identifiers found in change records and free text: ticket ids and git object names.

One home for each pattern, so the normalizer that records a ticket, the rule that matches an
out-of-band change against it, the control that judges it and the report that shows it agree
on what a ticket or a SHA is.
"""
from __future__ import annotations

import re

__all__ = ["OBJECT_ID", "SHA_MENTION", "TICKET", "TICKET_PATTERN", "references", "shas_in"]

#: ticket ids in subjects, bodies, trailers and session descriptions: JIRA-style keys
#: (``PAY-123``) and ITSM change numbers (``CHG0887797``); a repository may set its own
TICKET_PATTERN = r"\b(?:[A-Z][A-Z0-9]{1,9}-[0-9]{1,9}|(?:CHG|INC|RFC|CR|PRB)[0-9]{4,})\b"

TICKET = re.compile(TICKET_PATTERN)

#: a full git object name: SHA-1 (40 hex) or SHA-256 (64 hex), lower case, nothing around it
#: (``\Z``, not ``$``: ``$`` also matches before a trailing newline)
OBJECT_ID = re.compile(r"\A[0-9a-f]{40}(?:[0-9a-f]{24})?\Z")

#: a possibly abbreviated commit SHA written in free text (7 to 40 hex digits as a word)
SHA_MENTION = re.compile(r"\b[0-9a-f]{7,40}\b")


def shas_in(text: str) -> list[str]:
    """Abbreviated or full SHAs written in ``text``, lower-cased, in order of first appearance.

    A word of 7 to 11 decimal digits is a number (a change id, a port, a date), not a SHA:
    one with digits only counts from 12 characters, where a number that long is unlikely."""
    found: dict[str, None] = {}
    for match in SHA_MENTION.finditer(text.lower()):
        word = match.group(0)
        if len(word) >= 12 or not word.isdigit():
            found.setdefault(word, None)
    return list(found)


def references(texts: list[str]) -> tuple[list[str], list[str]]:
    """(SHAs, tickets) an install or publish references in its session name and description:
    what the out-of-band rule, CHK-01 and the report's change-control section all match on."""
    shas: list[str] = []
    tickets: list[str] = []
    for text in texts:
        for sha in shas_in(text):
            if sha not in shas:
                shas.append(sha)
        for ticket in TICKET.findall(text):
            if ticket not in tickets:
                tickets.append(ticket)
    return shas, tickets
