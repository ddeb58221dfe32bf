"""Late data, evaluated exactly once: a rule cursors on ingest time as well as event time.

A rule's windows are judged on event time (``@timestamp``): ``[searched_to, now - delay)``.
Documents whose event time falls in a window already searched arrive anyway: a Git change
synced minutes after its commit time, an API pull, a file picked up late, a spool replayed
after an outage. Each rule therefore also keeps ``ingested_to`` (on ``event.ingested``, which
the normalizers stamp with the receive time): at every run one aggregation asks for the
earliest event time among the rule's documents ingested in ``[ingested_to, now - delay)`` but
stamped before ``searched_to``; if there are any, the windows from there to ``searched_to`` are
evaluated again before the new window (Elastic's detection engine does the same with a
timestamp override). Finding ids are deterministic and written create-only, and sliding
suppression knows what fired, so a window judged twice yields each finding once.

A silence (``flatline``) is not re-judged: a late document can only end a silence, and a
finding already raised for it stays true for the time it was raised.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..store import Store
from ..store.search import SearchStats, msearch
from .compile import base_query, bool_filter, iso
from .schema import Rule
from .types.base import to_dt

__all__ = ["late_body", "late_starts"]


def late_body(rule: Rule, ingested_from: datetime, ingested_to: datetime,
              searched_to: datetime) -> dict[str, Any]:
    return {"size": 0, "track_total_hits": False,
            "query": bool_filter(base_query(rule),
                                 {"range": {"event.ingested": {"gte": iso(ingested_from),
                                                               "lt": iso(ingested_to)}}},
                                 {"range": {"@timestamp": {"lt": iso(searched_to)}}}),
            "aggs": {"earliest": {"min": {"field": "@timestamp"}}}}


async def late_starts(asks: list[tuple[Rule, datetime, datetime, datetime]], store: Store,
                      stats: SearchStats) -> list[datetime | None]:
    """For each (rule, ingested_from, ingested_to, searched_to): the earliest event time of its
    late documents, or None. One ``_msearch`` for all rules."""
    if not asks:
        return []
    bodies = [(rule.index, late_body(rule, a, b, s)) for rule, a, b, s in asks]
    responses = await msearch(store, bodies, stats, raise_errors=False)
    out: list[datetime | None] = []
    for response in responses:
        value = ((response.get("aggregations") or {}).get("earliest") or {}).get("value")
        out.append(to_dt(value).replace(microsecond=0) if value is not None else None)
    return out


def late_segments(earliest: datetime, searched_to: datetime, rule: Rule,
                  size: timedelta) -> list[tuple[datetime, datetime]]:
    """The already-searched windows to judge again: from the late document's event time to
    ``searched_to``, in segments of at most ``size``."""
    out = []
    start = earliest
    while start < searched_to:
        nxt = min(searched_to, start + size)
        out.append((start, nxt))
        start = nxt
    return out
