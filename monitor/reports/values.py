"""Small, pure helpers to read Elasticsearch answers into report values (text, samples)."""
from __future__ import annotations

import json
import re
from typing import Any

from .data import Count, Sample

__all__ = ["_counts", "_dur_text", "_natural", "_sample", "_strings", "_text"]

_TEXT_LIMIT = 300
#: control characters and bidirectional overrides: shown as visible escapes so a log field
#: cannot reorder or hide text in front of the reader ("Trojan Source")
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def _visible(text: str) -> str:
    return _INVISIBLE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)




def _text(value: Any, limit: int = _TEXT_LIMIT) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        value = ", ".join(_text(v, limit) for v in value)
    elif isinstance(value, dict):
        value = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    text = _visible(str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _sample(entry: Any) -> Sample:
    if isinstance(entry, dict):
        flat: list[tuple[str, str]] = []

        def walk(prefix: str, node: Any) -> None:
            if isinstance(node, dict) and node:
                for key in sorted(node, key=str):
                    walk(f"{prefix}.{key}" if prefix else str(key), node[key])
            else:
                flat.append((prefix, _text(node)))

        walk("", entry)
        return Sample(tuple(flat[:20]))
    return Sample((("value", _text(entry)),))


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)] if value else []


def _natural(text: str) -> tuple[Any, ...]:
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", text) if part)


def _counts(agg: dict[str, Any]) -> tuple[Count, ...]:
    return tuple(Count(str(b.get("key_as_string", b["key"])), int(b["doc_count"]))
                 for b in agg.get("buckets", []))


def _dur_text(seconds: int) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h {rest // 60}m" if hours else f"{rest // 60}m"
