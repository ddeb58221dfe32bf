"""Read an inventory from YAML (strict: duplicate keys refused) or CSV, and store it.

CSV import: one row per item, a ``type`` column says what the row is::

    type,name,ip,networks,port,transport,flags,email,justification
    zone,cde,,10.20.0.0/16 10.21.0.0/16,,,cde,,
    zone,guest-wifi,,10.90.0.0/16,,,untrusted wireless,,
    allowed_inbound,cde,,,443,tcp,,,payment API from the web tier
    chd_host,db-card-1,10.20.1.10,,,,,,
    public_service,www,203.0.113.10,,443,tcp,,,
    gateway,gw-cde-1,10.0.0.1,,,,perimeter,,
    deploy_identity,gitops-bot,,,,,,,
    administrator,alice,,,,,,alice@example.com,
    generic_account,admin,,,,,,,

CSV rows may be merged over a YAML base (``--csv`` after the file): rows append to its lists.

Loading into Elasticsearch writes one document per item into the ``inventory`` index (ids
``<section>:<name>``) plus ``inventory:snapshot`` holding the whole validated file, which is
what evaluation reads back (``load_from_store``); replacing is idempotent.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import RuleError
from ..issues import problem_lines
from ..yamlio import YamlError, load_yaml
from .model import Inventory

__all__ = [
    "SNAPSHOT_ID",
    "csv_rows_to_dict",
    "inventory_documents",
    "inventory_from_dict",
    "load_inventory",
]

SNAPSHOT_ID = "inventory:snapshot"


def inventory_from_dict(data: Any, source: str = "<inventory>") -> Inventory:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RuleError(f"{source}: (top level): expected a mapping, got {type(data).__name__}")
    try:
        return Inventory.model_validate(data)
    except ValidationError as exc:
        raise RuleError("\n".join(problem_lines(exc, source))) from None


def _split(value: str) -> list[str]:
    return [v for v in value.replace(",", " ").split() if v]


def csv_rows_to_dict(text: str, source: str = "<csv>", base: dict[str, Any] | None = None
                     ) -> dict[str, Any]:
    """Turn CSV rows into the YAML-shaped dict (appending to ``base``)."""
    data: dict[str, Any] = json.loads(json.dumps(base or {}, default=str))
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "type" not in reader.fieldnames:
        raise RuleError(f"{source}: header: a 'type' column is required")
    zones = {z["name"]: z for z in data.setdefault("zones", [])}
    for lineno, row in enumerate(reader, start=2):
        row = {k: (v or "").strip() for k, v in row.items() if k is not None}
        kind, name = row.get("type", ""), row.get("name", "")
        flags = set(_split(row.get("flags", "")))
        where = f"{source}:{lineno}"
        if kind == "zone":
            zone = {"name": name, "networks": _split(row.get("networks", "")), "cde": "cde" in flags,
                    "trusted": "untrusted" not in flags, "wireless": "wireless" in flags,
                    "preprod": "preprod" in flags}
            if name in zones:
                raise RuleError(f"{where}: zone {name!r} given twice")
            zones[name] = zone
            data["zones"].append(zone)
        elif kind in ("allowed_inbound", "allowed_outbound"):
            if name not in zones:
                raise RuleError(f"{where}: {kind}: unknown zone {name!r} (define the zone row first)")
            service: dict[str, Any] = {"transport": row.get("transport") or "tcp",
                                       "justification": row.get("justification", "")}
            if row.get("port"):
                service["port"] = _int(row["port"], where)
            zones[name].setdefault(kind, []).append(service)
        elif kind == "chd_host":
            data.setdefault("chd_hosts", []).append({"name": name, "ip": row.get("ip", "")})
        elif kind == "public_service":
            data.setdefault("public_services", []).append(
                {"name": name, "ip": row.get("ip", ""), "port": _int(row.get("port", ""), where),
                 "transport": row.get("transport") or "tcp"})
        elif kind == "gateway":
            data.setdefault("gateways", []).append(
                {"name": name, "ip": row.get("ip") or None, "perimeter": "perimeter" in flags})
        elif kind == "deploy_identity":
            data.setdefault("deploy_identities", []).append(name)
        elif kind == "administrator":
            data.setdefault("administrators", []).append(
                {"name": name, "email": row.get("email") or None})
        elif kind == "generic_account":
            data.setdefault("generic_accounts", []).append(name)
        elif kind == "broad_rule":
            data.setdefault("broad_rules", []).append(name)
        else:
            raise RuleError(f"{where}: type: unknown row type {kind!r}")
    return data


def _int(value: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise RuleError(f"{where}: port: expected an integer, got {value!r}") from None


def load_inventory(path: str | Path, csv_paths: list[str | Path] | None = None) -> Inventory:
    """Load a YAML inventory (``path``) and merge optional CSV files over it; strict."""
    path = Path(path)
    try:
        data = load_yaml(path) if path.suffix.lower() != ".csv" else None
    except YamlError as exc:
        raise RuleError(str(exc)) from None
    paths = list(csv_paths or [])
    if path.suffix.lower() == ".csv":
        paths.insert(0, path)
        data = {}
    for csv_path in paths:
        csv_path = Path(csv_path)
        try:
            text = csv_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RuleError(f"{csv_path}: cannot read: {exc}") from None
        data = csv_rows_to_dict(text, str(csv_path), data)
    return inventory_from_dict(data, str(path))


def inventory_documents(inventory: Inventory, now: datetime | None = None
                        ) -> list[tuple[str, dict[str, Any]]]:
    """(id, document) pairs for the inventory index: a snapshot plus one doc per item."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    dump = inventory.model_dump(mode="json")
    digest = hashlib.sha256(json.dumps(dump, sort_keys=True).encode()).hexdigest()
    docs: list[tuple[str, dict[str, Any]]] = [
        (SNAPSHOT_ID, {"@timestamp": stamp, "inventory": {"section": "snapshot", "sha256": digest,
                                                          "data_json": json.dumps(dump)}}),
    ]
    for section in ("zones", "chd_hosts", "public_services", "gateways", "administrators"):
        for item in dump[section]:
            docs.append((f"{section}:{item['name']}",
                         {"@timestamp": stamp, "inventory": {"section": section, "sha256": digest,
                                                             "name": item["name"],
                                                             "item_json": json.dumps(item)}}))
    for section in ("deploy_identities", "generic_accounts"):
        for name in dump[section]:
            docs.append((f"{section}:{name}", {"@timestamp": stamp, "inventory": {
                "section": section, "sha256": digest, "name": name}}))
    return docs
