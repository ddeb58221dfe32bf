"""A document that arrives already serialized (the compiled Check Point normalizer writes JSON).

``EncodedSource`` stands where a ``dict`` source usually does in ``Document.source``: the bulk
writer sends ``json`` as it is, and picks the index by ``timestamp`` without decoding. Anything
else may read it as a mapping; the first read decodes the bytes once. It is read-only: nested
values are decoded copies, so a change to them would never reach Elasticsearch.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

__all__ = ["EncodedSource"]


class EncodedSource(Mapping[str, Any]):
    """JSON bytes of one document plus its ``@timestamp`` text."""

    __slots__ = ("_decoded", "json", "timestamp")

    def __init__(self, json: bytes, timestamp: str) -> None:
        self.json = json
        self.timestamp = timestamp
        self._decoded: dict[str, Any] | None = None

    def decoded(self) -> dict[str, Any]:
        """The document as a plain ``dict`` (decoded once, then shared)."""
        if self._decoded is None:
            self._decoded = orjson.loads(self.json)
        return self._decoded

    def __getitem__(self, key: str) -> Any:
        return self.decoded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.decoded())

    def __len__(self) -> int:
        return len(self.decoded())

    def get(self, key: str, default: Any = None) -> Any:
        if key == "@timestamp":
            return self.timestamp
        return self.decoded().get(key, default)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EncodedSource):
            other = other.decoded()
        return self.decoded() == other

    __hash__ = None  # type: ignore[assignment]  # a mapping, like dict

    def __repr__(self) -> str:
        return f"EncodedSource({self.json[:120]!r}{'...' if len(self.json) > 120 else ''})"
