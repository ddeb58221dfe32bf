"""Check Point Log Exporter LEEF lines → exporter field names. Pure, never raises.

``LEEF:2.0|Check Point|<product>|1.0|<event id>|[<delimiter>|]k=v<TAB>k2=v2``. ``devTime`` is
epoch seconds; the double colon survives as ``scheme:=IKE``.
"""
from __future__ import annotations

from .checkpoint_kv import MAX_FIELDS, Fields, add_field

__all__ = ["parse_leef"]

_LEEF_TO_CP = {"devTime": "time", "srcPort": "s_port", "dstPort": "service", "usrName": "user",
               "proto": "proto", "srcPreNAT": "src", "dstPreNAT": "dst",
               "srcPostNAT": "xlatesrc", "dstPostNAT": "xlatedst",
               "srcPostNATPort": "xlatesport", "dstPostNATPort": "xlatedport"}


def parse_leef(line: str) -> tuple[Fields, str] | None:
    if not line.startswith("LEEF:"):
        return None
    parts = line.split("|", 5)
    if len(parts) < 6:
        return None
    version, vendor, product, _pversion, event_id, rest = parts
    delimiter = "\t"
    if version.startswith("LEEF:2") and "|" in rest:
        candidate, remainder = rest.split("|", 1)
        if len(candidate) == 1:
            delimiter, rest = candidate, remainder
        elif candidate[:1] in ("x", "0") and 2 <= len(candidate) <= 6:
            try:
                delimiter, rest = chr(int(candidate.removeprefix("0").removeprefix("x"), 16)), remainder
            except ValueError:
                pass
    fields: Fields = {"leef_vendor": vendor, "product": product, "leef_event_id": event_id}
    leftover: list[str] = []
    for count, item in enumerate(rest.split(delimiter)):
        if count >= MAX_FIELDS:
            return fields, "too many fields"
        key, sep, value = item.partition("=")
        key = key.strip().rstrip(":")
        if not sep or not key:
            if item.strip():
                leftover.append(item.strip()[:100])
            continue
        value = value.strip()
        if value:
            add_field(fields, _LEEF_TO_CP.get(key, key).replace(".", "_"), value)
    return fields, " … ".join(leftover)[:500]
