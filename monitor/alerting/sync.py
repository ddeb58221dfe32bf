"""Compare what is open in Elasticsearch with what was posted, and queue the difference.

Findings are acknowledged, closed (``monitor findings ack|close``, another process) or excepted
(an exception that applies) behind the daemon's back, so the sync reads state instead of
listening for events: every ``sync_interval_seconds`` it lists the ids of open findings (a
small ``_source``), posts new ones at once, re-posts the others every ``resend_interval`` (each
post ends ``4 x resend`` later, Alertmanager's resolve timeout), and resolves (``endsAt = now``)
every posted finding that is no longer open. Failed compliance controls work the same way, one
alert per control, from the newest result of each control.

What was posted (``announced``: key → labels and start) is kept in a JSON file next to the
queue, so a restart resolves what the previous run posted. On an HA take-over the new active
instance does not know what the old one posted: it re-posts what is open, and what was
acknowledged meanwhile ends at its last ``endsAt`` (at most ``4 x resend`` later).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from ..findings.store import effective_status
from ..store import Store
from ..store.search import search
from ..timefmt import iso_ms
from .payload import AlertOptions, control_alert, finding_alert, webhook_payload

__all__ = ["AlertSync", "SyncReport"]

log = logging.getLogger("monitor.alerting")

_SEVERITIES = ("low", "medium", "high", "critical")
_ID_FIELDS = ["finding.id", "finding.status", "finding.suppressed", "finding.exception_expires"]
_PAGE = 5000


@dataclass
class SyncReport:
    new: int = 0
    resent: int = 0
    resolved: int = 0
    open: int = 0
    batches: int = 0
    dropped: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f"alerts_{k}": v for k, v in self.__dict__.items()}


@dataclass
class _Announced:
    """key → {"labels", "startsAt", "posted" (unix s)}; persisted atomically."""

    path: Path
    items: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> _Announced:
        try:
            data = orjson.loads(path.read_bytes())
            return cls(path, data if isinstance(data, dict) else {})
        except FileNotFoundError:
            return cls(path)
        except orjson.JSONDecodeError:
            log.error("alert state file unreadable; open alerts are posted again",
                      extra={"fields": {"file": str(path)}})
            return cls(path)

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, orjson.dumps(self.items))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)


class AlertSync:
    """One per daemon (active instance); ``run(now)`` is the sync job's body."""

    def __init__(self, store: Store, opts: AlertOptions, queues: Iterable[Any], *,
                 state_file: Path, batch_size: int = 500, findings: bool = True,
                 controls: bool = True, min_severity: str = "low",
                 control_statuses: tuple[str, ...] = ("fail", "insufficient_data"),
                 on_queued: Any = None) -> None:
        self.store = store
        self.opts = opts
        #: (destination kind, DiskQueue, on_drop) for each destination
        self.queues = list(queues)
        self.batch_size = batch_size
        self.findings, self.controls = findings, controls
        self.severities = _SEVERITIES[_SEVERITIES.index(min_severity):]
        self.control_statuses = control_statuses
        self.announced = _Announced.load(state_file)
        self._on_queued = on_queued

    # -- findings ---------------------------------------------------------------------------

    async def _open_ids(self, now: datetime) -> set[str]:
        """Ids of open (not excepted) findings at or above the minimum severity, paged."""
        query = {"bool": {"filter": [{"term": {"finding.status": "open"}},
                                     {"terms": {"rule.severity": list(self.severities)}}]}}
        out: set[str] = set()
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {"size": _PAGE, "query": query, "_source": _ID_FIELDS,
                                    "sort": [{"finding.id": "asc"}], "track_total_hits": False}
            if after is not None:
                body["search_after"] = after
            hits = (await search(self.store, "findings", body,
                                 what="list open findings"))["hits"]["hits"]
            out.update(h["_source"]["finding"]["id"] for h in hits
                       if effective_status(h["_source"], now) == "open")
            if len(hits) < _PAGE:
                return out
            after = hits[-1]["sort"]

    async def _docs(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for i in range(0, len(ids), _PAGE):
            chunk = ids[i:i + _PAGE]
            response = await search(self.store, "findings", {
                "size": len(chunk), "query": {"terms": {"finding.id": chunk}},
                "_source": {"excludes": ["finding.query", "finding.history"]}},
                what="read findings for alerts")
            for hit in response["hits"]["hits"]:
                found[hit["_source"]["finding"]["id"]] = hit["_source"]
        return found

    async def _sync_findings(self, now: datetime, report: SyncReport) -> list[dict[str, Any]]:
        open_ids = await self._open_ids(now)
        report.open = len(open_ids)
        items = self.announced.items
        due_before = now.timestamp() - self.opts.resend_seconds
        new = [i for i in open_ids if f"f:{i}" not in items]
        resend = [i for i in open_ids if f"f:{i}" in items
                  and items[f"f:{i}"]["posted"] <= due_before]
        gone = [k[2:] for k in items if k.startswith("f:") and k[2:] not in open_ids]
        docs = await self._docs(sorted({*new, *resend, *gone}))
        alerts: list[dict[str, Any]] = []
        for fid in sorted(new) + sorted(resend):
            doc = docs.get(fid)
            if doc is None:
                continue
            alert = finding_alert(doc, now=now, opts=self.opts)
            key = f"f:{fid}"
            if key in items:  # the first label set stays the label set (settings reloads)
                alert["labels"] = items[key]["labels"]
                alert["startsAt"] = items[key]["startsAt"]
            items[key] = {"labels": alert["labels"], "startsAt": alert["startsAt"],
                          "posted": now.timestamp()}
            alerts.append(alert)
        report.new = sum(1 for fid in new if fid in docs)
        report.resent = len(alerts) - report.new
        for fid in sorted(gone):
            key = f"f:{fid}"
            doc = docs.get(fid)
            alert = finding_alert(doc, now=now, opts=self.opts, resolve=True) if doc else {
                "annotations": {"summary": f"finding {fid} is no longer stored"}}
            status = effective_status(doc, now) if doc else "deleted"
            alert["annotations"]["resolution"] = status
            alert.update(labels=items[key]["labels"], startsAt=items[key]["startsAt"],
                         endsAt=iso_ms(now))
            alerts.append(alert)
            del items[key]
            report.resolved += 1
        return alerts

    # -- controls ---------------------------------------------------------------------------

    async def _latest_controls(self) -> list[dict[str, Any]]:
        response = await search(self.store, "compliance", {
            "size": 1000, "query": {"match_all": {}},
            "collapse": {"field": "control.id"},
            "sort": [{"control.evaluated_at": "desc"}, {"control.period.start": "desc"}],
            "_source": {"excludes": ["control.evidence"]}}, what="latest control results")
        return [h["_source"] for h in response["hits"]["hits"]]

    async def _sync_controls(self, now: datetime, report: SyncReport) -> list[dict[str, Any]]:
        items = self.announced.items
        alerts: list[dict[str, Any]] = []
        due_before = now.timestamp() - self.opts.resend_seconds
        for doc in await self._latest_controls():
            control = doc.get("control", {})
            key = f"c:{control.get('framework')}:{control.get('id')}"
            failing = control.get("status") in self.control_statuses
            if failing and (key not in items or items[key]["posted"] <= due_before):
                alert = control_alert(doc, now=now, opts=self.opts)
                if key in items:
                    alert.update(labels=items[key]["labels"], startsAt=items[key]["startsAt"])
                else:
                    report.new += 1
                items[key] = {"labels": alert["labels"], "startsAt": alert["startsAt"],
                              "posted": now.timestamp()}
                alerts.append(alert)
            elif not failing and key in items:
                alert = control_alert(doc, now=now, opts=self.opts, resolve=True)
                alert.update(labels=items[key]["labels"], startsAt=items[key]["startsAt"])
                alert["annotations"]["resolution"] = str(control.get("status"))
                alerts.append(alert)
                del items[key]
                report.resolved += 1
        return alerts

    # -- run --------------------------------------------------------------------------------

    async def run(self, now: datetime) -> SyncReport:
        report = SyncReport()
        alerts: list[dict[str, Any]] = []
        if self.findings:
            alerts += await self._sync_findings(now, report)
        if self.controls:
            alerts += await self._sync_controls(now, report)
        if alerts:
            self._enqueue(alerts, now, report)
        self.announced.save()
        return report

    def _enqueue(self, alerts: list[dict[str, Any]], now: datetime, report: SyncReport) -> None:
        for start in range(0, len(alerts), self.batch_size):
            batch = alerts[start:start + self.batch_size]
            report.batches += 1
            for kind, queue, on_drop in self.queues:
                body = batch if kind == "alertmanager" else webhook_payload(batch, now=now)
                dropped = queue.push(orjson.dumps(body), len(batch))
                lost = sum(e.alerts for e in dropped)
                if lost:
                    report.dropped += lost
                    on_drop(lost)
        if self._on_queued is not None:
            self._on_queued()
