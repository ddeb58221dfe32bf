"""Management API (``show-logs``) and JSON records → Log Exporter field names. Pure.

The API spells fields differently from the exporter (``i_f_dir``/``ifdir``, ``orig``/``origin``,
``id``/``loguid``, ISO ``time``, string counts, ``*_attr`` arrays of resolved objects,
``TP_match_table``). Normalizing to exporter names first lets one ECS mapper serve all sources.
"""
from __future__ import annotations

from typing import Any

from .checkpoint_kv import MAX_FIELDS, Fields, add_field

__all__ = ["API_RENAMES", "fields_from_mapping"]

API_RENAMES = {
    "id": "loguid", "i_f_dir": "ifdir", "i_f_name": "ifname", "__interface": "ifname",
    "orig": "origin", "lastUpdateTime": "lastupdatetime_ms", "lastUpdateSeqNum": "last_update_seq",
    "type": "log_type", "index_time": "index_time",
}
_RESOLVED = {"dst_attr": "dst_machine_name", "src_attr": "src_machine_name",
             "orig_attr": "origin_name"}
_SKIP = {"proto_attr", "service_attr", "orig_log_server_attr", "marker", "__interface"}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value).strip()
    return None


def fields_from_mapping(record: dict[str, Any], *, api: bool) -> Fields:
    """Flatten one JSON object into exporter-named string fields (lists for repeats)."""
    fields: Fields = {}
    for count, (key, value) in enumerate(record.items()):
        if count >= MAX_FIELDS or not isinstance(key, str) or not key:
            continue
        if key in _SKIP and key != "__interface":
            continue
        if key == "__interface" and "i_f_name" in record:
            continue
        if key in _RESOLVED and isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and isinstance(item.get("resolved"), str):
                    add_field(fields, _RESOLVED[key], item["resolved"])
            continue
        if key.endswith("_attr"):
            continue
        name = (API_RENAMES.get(key, key) if api else key).replace(".", "_")
        if name == "orig" and not api:
            name = "origin"
        if isinstance(value, dict):
            for sub_key, sub_value in list(value.items())[:64]:
                text = _text(sub_value)
                if text is not None and isinstance(sub_key, str):
                    add_field(fields, f"{name}_{sub_key}".replace(".", "_"), text)
            continue
        if isinstance(value, list):
            for item in value[:64]:
                if isinstance(item, dict):  # TP_match_table rows: flatten like the exporter
                    for sub_key, sub_value in list(item.items())[:64]:
                        text = _text(sub_value)
                        if text is not None and isinstance(sub_key, str):
                            add_field(fields, sub_key.replace(".", "_"), text)
                else:
                    text = _text(item)
                    if text is not None:
                        add_field(fields, name, text)
            continue
        text = _text(value)
        if text is not None and text != "":
            add_field(fields, name, text)
    log_type = fields.get("log_type") if api else None
    if isinstance(log_type, str) and log_type.lower() == "audit":
        fields.setdefault("is_audit", "true")
    return fields
