"""Alerts that say what happened: findings and failed controls to Alertmanager (API v2) and/or
a signed webhook, and rendered reports to their readers.

* ``payload``: pure functions, finding/control document → alert (labels, annotations,
  startsAt/endsAt), Alertmanager webhook body, HMAC signature;
* ``queue``: a bounded on-disk FIFO per destination (nothing lost across outages/restarts);
* ``sender``: drains each queue with httpx, retries with backoff (tenacity);
* ``sync``: what is open in Elasticsearch vs what was posted → new, re-posted, resolved;
* ``reports``: email (SMTP + STARTTLS) and folder delivery after a scheduled render.

``build_alerting`` turns ``settings.alerting`` into an ``Alerting`` whose two job bodies the
daemon schedules: ``sync`` (active instance) and ``ensure_delivery`` (every instance, so a
standby still drains what it queued while it was active).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from ..metrics.definitions import Metrics
from ..settings import Settings
from ..store import Store
from .payload import AlertOptions
from .queue import open_queue
from .sender import Destination, Sender, build_client
from .sync import AlertSync, SyncReport

__all__ = ["Alerting", "build_alerting"]

log = logging.getLogger("monitor.alerting")


@dataclass
class Alerting:
    sync: AlertSync
    sender: Sender
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _kicked: asyncio.Task[None] | None = None
    #: a kick arrived while a kicked sync was running: run once more after it
    _again: bool = False

    async def run_sync(self) -> SyncReport:
        self.sender.ensure_running()
        async with self._lock:  # the scheduled sync and a kicked one never overlap
            return await self.sync.run(datetime.now(UTC))

    def kick(self) -> None:
        """Sync now, in the background (the rules job just stored findings): an alert then
        leaves within a second of its finding, whatever ``sync_interval_seconds`` is. Kicks
        during a running sync coalesce into one more sync after it (its listing may have
        been taken before the newest finding was stored)."""
        if self._kicked is None or self._kicked.done():
            self._kicked = asyncio.create_task(self._kick(), name="alerts-kick")
        else:
            self._again = True

    async def _kick(self) -> None:
        while True:
            self._again = False
            try:
                await self.run_sync()
            except Exception as exc:  # noqa: BLE001 - the scheduled sync retries
                log.warning("alert sync after a rules run failed", extra={"fields": {
                    "error": f"{type(exc).__name__}: {exc}"}})
            if not self._again:
                return

    def ensure_delivery(self) -> int:
        """(Re)start delivery; returns the alerts still queued over every destination."""
        self.sender.ensure_running()
        return sum(d.queue.alerts for d in self.sender.destinations)

    async def close(self) -> None:
        if self._kicked is not None:
            self._kicked.cancel()
            await asyncio.gather(self._kicked, return_exceptions=True)
        await self.sender.close()


def _auth(target: object) -> tuple[httpx.Auth | None, dict[str, str]]:
    username, password = getattr(target, "username", None), getattr(target, "password", None)
    token = getattr(target, "bearer_token", None)
    auth = httpx.BasicAuth(username, password.get_secret_value()) \
        if username and password is not None else None
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}
    return auth, headers


def _destinations(settings: Settings, queue_root: Path) -> list[Destination]:
    cfg = settings.alerting
    out: list[Destination] = []
    am = cfg.alertmanager
    for i, url in enumerate(am.urls, start=1):
        auth, headers = _auth(am)
        name = f"alertmanager-{i}"
        out.append(Destination(name, f"{url}/api/v2/alerts", "alertmanager",
                               open_queue(queue_root / name, cfg.queue.max_bytes),
                               build_client(am.tls, am.timeout_seconds, auth, headers)))
    hook = cfg.webhook
    if hook.url:
        auth, headers = _auth(hook)
        secret = hook.secret.get_secret_value().encode() if hook.secret else None
        out.append(Destination("webhook", hook.url, "webhook",
                               open_queue(queue_root / "webhook", cfg.queue.max_bytes),
                               build_client(hook.tls, hook.timeout_seconds, auth, headers),
                               secret=secret))
    return out


def build_alerting(settings: Settings, store: Store, metrics: Metrics,
                   notes: Mapping[str, str] | None = None) -> Alerting | None:
    """``None`` when alerting is off or has no destination."""
    cfg = settings.alerting
    if not cfg.enabled or not (cfg.alertmanager.urls or cfg.webhook.url):
        return None
    root = cfg.queue.dir if cfg.queue.dir.is_absolute() else settings.base_dir / cfg.queue.dir
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    destinations = _destinations(settings, root)
    sender = Sender(destinations, metrics, initial_backoff=cfg.initial_backoff_seconds,
                    max_backoff=cfg.max_backoff_seconds)
    opts = AlertOptions(static_labels=dict(cfg.labels), max_label_length=cfg.max_label_length,
                        resend_seconds=cfg.resend_interval_seconds, runbook_url=cfg.runbook_url,
                        kibana_url=settings.kibana.url, kibana_data_view=settings.kibana.data_view,
                        notes=dict(notes or {}))

    def dropper(name: str):  # type: ignore[no-untyped-def]  # returns the counter of one destination
        return lambda count: metrics.alerts_dropped.labels(destination=name).inc(count)

    def queued() -> None:
        for dest in destinations:
            metrics.alerts_queued.labels(destination=dest.name).set(dest.queue.alerts)
        sender.wake()

    sync = AlertSync(store, opts, [(d.kind, d.queue, dropper(d.name)) for d in destinations],
                     state_file=root / "announced.json", batch_size=cfg.batch_size,
                     findings=cfg.findings, controls=cfg.controls,
                     min_severity=cfg.min_severity,
                     control_statuses=tuple(cfg.control_statuses), on_queued=queued)
    return Alerting(sync, sender)
