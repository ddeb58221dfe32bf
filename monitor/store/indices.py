"""Index names, composable templates and retention.

Time-based kinds are written to monthly indices named by the document's own timestamp
(``<prefix>-events-2026.11``), so a replayed event lands in the same index and its stable
``_id`` collides instead of duplicating, and retention is ``indices.delete`` of whole months:
it works on the minimal build (no ILM, no ``_delete_by_query``) and on a full cluster alike.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .mappings import COMMON_DYNAMIC_TEMPLATES, KIND_MAPPINGS

__all__ = ["IndexNames", "DATED_KINDS", "SINGLE_KINDS", "template_bodies", "month_of"]

DATED_KINDS = ("events", "changes", "findings", "compliance", "deadletter")
SINGLE_KINDS = ("reports", "state", "inventory")
_MONTH = re.compile(r"-(\d{4})\.(\d{2})$")


def month_of(timestamp: str | datetime | None) -> str:
    """``YYYY.MM`` of an ISO timestamp (UTC); unparsable or missing → the current month."""
    if isinstance(timestamp, datetime):
        moment = timestamp.astimezone(UTC) if timestamp.tzinfo else timestamp
        return f"{moment.year:04d}.{moment.month:02d}"
    if isinstance(timestamp, str) and len(timestamp) >= 7 and timestamp[4] == "-":
        year, month = timestamp[:4], timestamp[5:7]
        if year.isdigit() and month.isdigit() and 1 <= int(month) <= 12:
            if timestamp.endswith("Z") or "+" not in timestamp[10:] and "-" not in timestamp[10:]:
                return f"{year}.{month}"
            try:
                return month_of(datetime.fromisoformat(timestamp))
            except ValueError:
                return f"{year}.{month}"
    now = datetime.now(UTC)
    return f"{now.year:04d}.{now.month:02d}"


@dataclass(frozen=True, slots=True)
class IndexNames:
    """Every index name derives from one prefix, so a test or a tenant is one prefix away."""

    prefix: str

    def write(self, kind: str, timestamp: str | datetime | None = None) -> str:
        """Concrete index a document of ``kind`` goes to."""
        if kind in SINGLE_KINDS:
            return f"{self.prefix}-{kind}"
        if kind not in DATED_KINDS:
            raise ValueError(f"unknown index kind {kind!r}")
        return f"{self.prefix}-{kind}-{month_of(timestamp)}"

    def read(self, kind: str) -> str:
        """Pattern to search every index of ``kind``."""
        if kind in SINGLE_KINDS:
            return f"{self.prefix}-{kind}"
        return f"{self.prefix}-{kind}-*"

    @property
    def events(self) -> str:
        return self.read("events")

    @property
    def changes(self) -> str:
        return self.read("changes")

    @property
    def findings(self) -> str:
        return self.read("findings")

    @property
    def compliance(self) -> str:
        return self.read("compliance")

    @property
    def deadletter(self) -> str:
        return self.read("deadletter")

    @property
    def state(self) -> str:
        return self.write("state")

    @property
    def reports(self) -> str:
        return self.write("reports")

    @property
    def inventory(self) -> str:
        return self.write("inventory")

    def template(self, kind: str) -> str:
        return f"{self.prefix}-{kind}"

    def month_of_index(self, index: str, kind: str) -> tuple[int, int] | None:
        """(year, month) of a dated index of ``kind`` under this prefix, else None."""
        if not index.startswith(f"{self.prefix}-{kind}-"):
            return None
        match = _MONTH.search(index)
        return (int(match.group(1)), int(match.group(2))) if match else None


def template_bodies(names: IndexNames, shards: int = 1, replicas: int = 0) -> dict[str, dict[str, Any]]:
    """Composable index template body per kind, with a content hash in ``_meta``."""
    bodies: dict[str, dict[str, Any]] = {}
    for kind, properties in KIND_MAPPINGS.items():
        pattern = names.read(kind) if kind in DATED_KINDS else names.write(kind)
        template: dict[str, Any] = {
            "settings": {
                "number_of_shards": shards,
                "number_of_replicas": replicas,
                "refresh_interval": "1s",
                # past the limit, new dynamic keys (sender-controlled checkpoint.* names) are
                # kept in _source and listed in _ignored instead of failing the document
                "mapping": {"total_fields": {"limit": 4000, "ignore_dynamic_beyond_limit": True},
                            "ignore_malformed": False},
            },
            "mappings": {
                "dynamic": True,
                "date_detection": False,
                "numeric_detection": False,
                "dynamic_templates": COMMON_DYNAMIC_TEMPLATES,
                "properties": properties,
            },
        }
        if kind == "state":
            template["mappings"]["dynamic"] = "strict"
            template["mappings"].pop("dynamic_templates")
        digest = hashlib.sha256(json.dumps([pattern, template], sort_keys=True).encode())
        bodies[names.template(kind)] = {
            "index_patterns": [pattern],
            "priority": 200,
            "template": template,
            "_meta": {"managed_by": "pci-compliance-monitor", "kind": kind,
                      "hash": digest.hexdigest()[:16]},
        }
    return bodies
