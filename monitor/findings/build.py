"""Finding ids and documents. Pure."""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson

from ..model import Finding
from ..timefmt import iso_ms

__all__ = ["finding_id", "group_key", "finding_doc", "iso"]


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso_ms(moment)


def group_key(group: dict[str, Any]) -> str:
    """Canonical ``field=value`` text of a group (sorted), ``-`` for no group."""
    if not group:
        return "-"
    return "|".join(f"{k}={'' if v is None else v}" for k, v in sorted(group.items()))


def finding_id(rule_id: str, group: dict[str, Any], window_start: datetime) -> str:
    """Same rule, same group key, same (aligned) window → same id, across runs and restarts."""
    payload = orjson.dumps([rule_id, sorted((k, v) for k, v in group.items()),
                            iso(window_start)])
    return hashlib.sha256(payload).hexdigest()[:40]


def _nest(flat: dict[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if not key.startswith(prefix + ".") or value is None:
            continue
        out[key[len(prefix) + 1:]] = value
    return out


def finding_doc(f: Finding, *, evaluated: tuple[datetime, datetime] | None = None,
                now: datetime | None = None, exception_expires: str | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    doc: dict[str, Any] = {
        "@timestamp": iso(f.window_start),
        "message": f"{f.rule_name} [{group_key(f.group)}]",
        "event": {"kind": "alert", "dataset": "monitor.findings", "created": iso(now),
                  "risk_score": f.risk_score, "severity": f.risk_score},
        "finding": {
            "id": f.id, "status": f.status, "rule_type": f.rule_type,
            "group_key": group_key(f.group),
            "group": {k.replace(".", "_"): v for k, v in f.group.items()},
            "count": f.count, "window": {"start": iso(f.window_start), "end": iso(f.window_end)},
            "first_seen": iso(f.first_seen), "last_seen": iso(f.last_seen),
            "query": f.query, "sample_ids": list(f.sample_ids),
            "suppressed": f.exception is not None, "exception": f.exception,
            "history": [{"at": iso(now), "by": "monitor", "action": "opened",
                         "to": f.status, "why": "rule matched"}],
            "extra": f.extra,
        },
        "rule": {"id": f.rule_id, "name": f.rule_name, "version": str(f.rule_version),
                 "severity": f.severity.value, "risk_score": f.risk_score, "type": f.rule_type,
                 "description": f.description},
        "threat": {"framework": "MITRE ATT&CK", "tactic": {"id": list(f.mitre_tactics)},
                   "technique": {"id": list(f.mitre_techniques)}},
        "pci": {"requirements": list(f.pci_requirements)},
    }
    if exception_expires:
        doc["finding"]["exception_expires"] = exception_expires
    if evaluated:
        doc["finding"]["evaluated"] = {"start": iso(evaluated[0]), "end": iso(evaluated[1])}
    for side in ("source", "destination"):
        sub = _nest(f.group, side)
        ip, port = sub.get("ip"), sub.get("port")
        if ip is not None or port is not None:
            doc[side] = {k: v for k, v in (("ip", ip), ("port", port)) if v is not None}
    user = _nest(f.group, "user")
    if user.get("name"):
        doc["user"] = {"name": user["name"]}
    return doc
