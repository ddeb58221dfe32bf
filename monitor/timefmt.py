"""UTC timestamp text, in the two forms the monitor writes. One place, so every index agrees.

* ``iso_ms``: ``2026-11-25T18:00:00.123Z``, what documents and queries carry (Elasticsearch
  ``date`` precision);
* ``iso_s``: ``2026-11-25T18:00:00Z``, what external APIs (GitHub, GitLab, Check Point) and
  report fields use.
"""
from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["iso_ms", "iso_s"]


def iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_s(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
