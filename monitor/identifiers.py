"""Identifiers found in change records and free text: ticket ids and git object names.

One home for each pattern, so the normalizer that records a ticket, the rule that matches an
out-of-band change against it, the control that judges it and the report that shows it agree
on what a ticket or a SHA is.
"""
from __future__ import annotations

import re

__all__ = ["OBJECT_ID", "SHA_MENTION", "TICKET_PATTERN"]

#: ticket ids in subjects, bodies, trailers and session descriptions: JIRA-style keys
#: (``PAY-123``) and ITSM change numbers (``CHG0887797``); a repository may set its own
TICKET_PATTERN = r"\b(?:[A-Z][A-Z0-9]{1,9}-[0-9]{1,9}|(?:CHG|INC|RFC|CR|PRB)[0-9]{4,})\b"

#: a full git object name: SHA-1 (40 hex) or SHA-256 (64 hex), lower case, nothing around it
OBJECT_ID = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")

#: a possibly abbreviated commit SHA written in free text (7 to 40 hex digits as a word)
SHA_MENTION = re.compile(r"\b[0-9a-f]{7,40}\b")
