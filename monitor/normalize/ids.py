"""Stable document ids: a replay of the same event always gets the same ``_id``.

Check Point gives each log a ``loguid`` (exporter) or ``id`` (Management API); updates of one log
keep it and bump ``sequencenum``. The id is therefore ``sha256(origin, loguid, sequencenum)``;
without a ``loguid`` it is ``sha256(source, raw payload)``, so re-reading the same bytes from the
same source collides instead of duplicating.
"""
from __future__ import annotations

import hashlib

__all__ = ["checkpoint_event_id", "payload_id"]


def checkpoint_event_id(loguid: str, sequence: str | None, origin: str | None) -> str:
    """Id of a Check Point log update: origin + loguid + sequence number (hex, 40 chars)."""
    key = f"cp\x1f{origin or ''}\x1f{loguid}\x1f{sequence or ''}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(key).hexdigest()[:40]


def payload_id(source: str, payload: bytes) -> str:
    """Id of a record without a vendor id: hash of where it came from and its exact bytes."""
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass"))
    digest.update(b"\x00")
    digest.update(payload)
    return digest.hexdigest()[:40]
