"""Sliding suppression: one incident, one finding, wherever the bucket borders fall.

Rule types cut time into aligned buckets (the finding id is rule + group + bucket start), so a
burst straddling a border used to yield two findings. ``Suppressor`` remembers, per group, the
finding that fired last (its id and the time its evidence starts); a draft of the same group
whose evidence starts less than the rule's suppression window after that is the same incident
and is dropped. A draft with the *same* id as the remembered one is a re-evaluation (late data,
replay), not a new incident: it passes and its create-only write is a harmless duplicate.

The memory rides in the rule's window state (committed with ``searched_to``), so it survives
restarts and spans runs; entries older than one window before the evaluated range are pruned.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..findings.build import finding_id, group_key
from ..timefmt import iso_ms
from .types.base import Draft, to_dt

__all__ = ["Suppressor"]


class Suppressor:
    def __init__(self, width: timedelta, state: dict[str, Any] | None = None) -> None:
        self.width = width
        self.fired: dict[str, tuple[datetime, str]] = {
            key: (to_dt(value[0]), str(value[1])) for key, value in (state or {}).items()}
        self.dropped = 0

    def admit(self, rule_id: str, drafts: list[Draft]) -> list[Draft]:
        """The drafts that are new incidents, in time order; remembers what fired."""
        kept = []
        for draft in sorted(drafts, key=lambda d: d.first_seen or d.window_start):
            key = group_key(draft.group)
            fid = finding_id(rule_id, draft.group, draft.window_start)
            at = draft.first_seen or draft.window_start
            last = self.fired.get(key)
            if last is not None and last[1] != fid and last[0] <= at < last[0] + self.width:
                self.dropped += 1
                continue
            if last is None or last[1] != fid:
                self.fired[key] = (at, fid)
            kept.append(draft)
        return kept

    def state(self, horizon: datetime) -> dict[str, list[str]]:
        """What to keep for the next run: incidents that can still absorb a draft after
        ``horizon`` (the start of the next evaluated range, less the rule's look-behind)."""
        return {key: [iso_ms(at), fid] for key, (at, fid) in sorted(self.fired.items())
                if at + self.width > horizon}
