"""Stable document ids: a replay of the same event always gets the same ``_id``.

Check Point gives each log a ``loguid`` (exporter) or ``id`` (Management API); updates of one log
keep it and bump ``sequencenum``. Without a ``loguid`` the id is ``sha256(source, raw payload)``,
so re-reading the same bytes from the same source collides instead of duplicating.

With a ``loguid`` the id depends on what the channel lets a sender choose:

* Management API (TLS, authenticated, the management server's own answer): ``sha256(origin,
  loguid, sequencenum)``; an overlapping re-read of the same log collides even if the server
  adds a resolved field between two reads;
* lines (syslog, exported files): anyone who may send, or spoof UDP from an allowed sender, picks
  ``origin``, ``loguid`` and ``sequencenum``. Bound to those alone, a forged line with a
  predicted loguid would take the id first and the real log would then be dropped as a 409
  "duplicate". So the id also covers the record's content: the message after the syslog header
  (``sha256(origin, loguid, sequencenum, message)``). A replay of the same record (spool, file
  re-import, a relay that rewrote the syslog header) still collides; a forged record with the
  same loguid is stored next to the real one instead of replacing it, and both carry the same
  ``event.id``, so the conflict is visible. Trade-off: the same log exported twice with
  different field content (a different Log Exporter format or field set) is stored twice.
"""
from __future__ import annotations

import hashlib

__all__ = ["checkpoint_event_id", "payload_id"]


def checkpoint_event_id(loguid: str, sequence: str | None, origin: str | None,
                        content: str | None = None) -> str:
    """Id of a Check Point log update: origin + loguid + sequence number (hex, 40 chars), and
    the record's ``content`` for records from a channel a sender controls (see above)."""
    key = f"cp\x1f{origin or ''}\x1f{loguid}\x1f{sequence or ''}"
    if content is not None:
        key += "\x1f" + content
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def payload_id(source: str, payload: bytes) -> str:
    """Id of a record without a vendor id: hash of where it came from and its exact bytes."""
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass"))
    digest.update(b"\x00")
    digest.update(payload)
    return digest.hexdigest()[:40]
