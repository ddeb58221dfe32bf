"""Event-time plausibility: a sender must not choose which index a document creates.

Dated kinds go to monthly indices named by the document's own ``@timestamp``. That time comes
from the sender (the syslog header, the Check Point ``time`` field, a commit date): left
unchecked, 1,200 crafted lines create 1,200 indices (1970.01 … 9999.12) and spend the cluster's
shard budget, so next month's real index cannot be created.

Design: a window around the ingest time (default 30 days back, 1 day ahead for events). A
document whose claimed time lies outside it is written to the *current* month's index; its
``@timestamp`` keeps the claimed time (evidence, searchable) and it is flagged with the tag
``event_time_out_of_window`` (counted in ``BulkResult.time_out_of_window``). Nothing is
dropped, and a sender can create at most the few indices inside the window.

Trade-off: a replay of such a document in a later month lands in that month's index, so it is
stored twice (ids collide only within one index); a legitimate import of older exported logs
is flagged and filed under the import month. ``elasticsearch.event_time`` widens the window.
"""
from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..model import Document, EncodedSource

__all__ = ["TAG", "Screen", "TimeWindow"]

#: tag added to a document filed under the current month because its time was implausible
TAG = "event_time_out_of_window"
_FMT = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Per-kind bounds, as ISO text (``YYYY-MM-DDTHH:MM:SS``) for a string compare per
    document: the writer's hot path must not parse a datetime per line."""

    bounds: Mapping[str, tuple[str, str]]
    now: datetime

    @classmethod
    def around(cls, now: datetime, days: Mapping[str, tuple[float, float]]) -> TimeWindow:
        """``days``: kind → (days back, days ahead) of ``now``."""
        now = now.astimezone(UTC)
        return cls({kind: ((now - timedelta(days=back)).strftime(_FMT),
                           (now + timedelta(days=ahead)).strftime(_FMT))
                    for kind, (back, ahead) in days.items()}, now)

    def applies(self, kind: str) -> bool:
        return kind in self.bounds

    def plausible(self, kind: str, timestamp: Any) -> bool:
        """True when ``timestamp`` (an ISO string) lies inside ``kind``'s window, or the kind
        is not checked. Anything that is not a well-formed UTC/offset ISO time is implausible."""
        bounds = self.bounds.get(kind)
        if bounds is None:
            return True
        if not isinstance(timestamp, str) or len(timestamp) < 19:
            return False
        if timestamp[-1:] == "Z" and timestamp[19:20] in ("Z", "."):
            text: str | None = timestamp  # UTC: compared as text, same layout as the bounds
        else:
            text = _utc_text(timestamp)
        if text is None or not text[:4].isdigit() or text[4:5] != "-" or text[10:11] != "T":
            return False
        low, high = bounds
        return low <= text[:19] <= high

    def refile(self, document: Document, index: str) -> Document:
        """The same document for the current month's ``index``, tagged (claimed time kept)."""
        source = document.source
        body: dict[str, Any] = dict(source.decoded() if isinstance(source, EncodedSource)
                                    else source)
        tags = body.get("tags")
        tags = list(tags) if isinstance(tags, list) else ([tags] if tags else [])
        if TAG not in tags:
            tags.append(TAG)
        body["tags"] = tags
        return Document(document.kind, document.id, body, index)


def _utc_text(timestamp: str) -> str | None:
    try:
        moment = datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(_FMT)



class Screen:
    """Passes documents through, re-filing those outside the window (``refiled`` counts them).
    Dead letters and unchecked kinds pass untouched; the dated index of a re-filed document is
    the current month's, named by ``index_for(kind, now)``."""

    __slots__ = ("index_for", "refiled", "window")

    def __init__(self, window: TimeWindow, index_for: Callable[[str, datetime], str]) -> None:
        self.window = window
        self.index_for = index_for
        self.refiled = 0

    def check(self, entry: Any) -> Any:
        if type(entry) is not Document or entry.index is not None:
            return entry
        window = self.window
        if entry.kind not in window.bounds:
            return entry
        source = entry.source
        stamp = source.timestamp if type(source) is EncodedSource else source.get("@timestamp")
        if window.plausible(entry.kind, stamp):
            return entry
        self.refiled += 1
        return window.refile(entry, self.index_for(entry.kind, window.now))

    def sync(self, items: Iterable[Any]) -> Iterator[Any]:
        check = self.check
        for entry in items:
            yield check(entry)

    async def asynchronous(self, items: AsyncIterable[Any]) -> AsyncIterator[Any]:
        check = self.check
        async for entry in items:
            yield check(entry)
