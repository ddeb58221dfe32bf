"""Check Point Log Exporter CEF lines → exporter field names. Pure, never raises.

``CEF:0|Check Point|<product>|Check Point|<class>|<name>|<severity>|k=v k2=v2 ...``. Check
Point puts many native keys unprefixed into the extension (``loguid=``, ``rule_uid=``); the CEF
dictionary keys are renamed to the exporter names so one ECS mapper serves every format.
"""
from __future__ import annotations

import re

from .checkpoint_kv import MAX_FIELDS, Fields, add_field

__all__ = ["parse_cef"]

_KEY = re.compile(r"(?:^|(?<=\s))([A-Za-z0-9_.\[\]-]{1,128})=")
_UNESCAPE = re.compile(r"\\([=\\|nr])")
_CEF_TO_CP = {
    "act": "action", "rt": "time", "spt": "s_port", "dpt": "service",
    "sourceTranslatedAddress": "xlatesrc", "sourceTranslatedPort": "xlatesport",
    "destinationTranslatedAddress": "xlatedst", "destinationTranslatedPort": "xlatedport",
    "deviceDirection": "cef_device_direction", "msg": "message_info", "suser": "src_user_name",
    "duser": "dst_user_name", "shost": "src_machine_name", "dhost": "dst_machine_name",
    "fileHash": "file_hash", "fname": "file_name", "request": "resource",
    "requestMethod": "method", "app": "service_id",
}
_LABELLED_IP = {"Source IPv6 Address": "src", "Destination IPv6 Address": "dst"}


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value.strip()
    return _UNESCAPE.sub(lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)),
                         value).strip()


def _split_header(line: str) -> list[str] | None:
    parts: list[str] = []
    start = 0
    index = 0
    while len(parts) < 7:
        index = line.find("|", index)
        if index < 0:
            return None
        if index > 0 and line[index - 1] == "\\":
            index += 1
            continue
        parts.append(line[start:index].replace("\\|", "|").replace("\\\\", "\\"))
        index += 1
        start = index
    parts.append(line[start:])
    return parts


def parse_cef(line: str) -> tuple[Fields, str] | None:
    """``None`` when the header is not CEF; otherwise (fields, leftover)."""
    parts = _split_header(line)
    if parts is None or not parts[0].startswith("CEF:"):
        return None
    fields: Fields = {"cef_vendor": parts[1], "product": parts[2], "cef_event_class": parts[4],
                      "cef_name": parts[5], "cef_severity": parts[6]}
    ext = parts[7]
    matches = list(_KEY.finditer(ext))[:MAX_FIELDS]
    labels: dict[str, str] = {}
    raw: list[tuple[str, str]] = []
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(ext)
        raw.append((match.group(1), _unescape(ext[match.end():end])))
    for key, value in raw:
        if key.endswith("Label") and len(key) > 5:
            labels[key[:-5]] = value
    for key, value in raw:
        if key.endswith("Label") or value == "":
            continue
        label = labels.get(key)
        if label in _LABELLED_IP:
            add_field(fields, _LABELLED_IP[label], value)
            continue
        if label:
            add_field(fields, "cef_" + key, value)
            add_field(fields, re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:64] or key,
                      value)
            continue
        name = _CEF_TO_CP.get(key, key).replace(".", "_")
        if name == "cef_device_direction":
            add_field(fields, "ifdir", "outbound" if value == "1" else "inbound")
        add_field(fields, name, value)
    leftover = "" if matches or not ext.strip() else ext[:200]
    return fields, leftover
