"""Delivery: drain each destination's disk queue in order, retrying with backoff (tenacity).

One asyncio task per destination, so a dead Alertmanager of an HA pair never delays the other.
An entry leaves the queue only when the destination accepted it (2xx). Connection errors,
timeouts, 5xx, 429 and auth/404 answers (configuration that may be fixed) are retried forever
with exponential backoff and jitter; a 400/413/422 (Alertmanager refuses the batch itself) would
be refused again at every attempt, so that entry is dropped, counted and logged instead of
blocking every later alert.

A folder lock (``flock``) makes one sender per queue folder, across reloads and processes.
"""
from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_never,
    wait_exponential,
    wait_random,
)

from ..metrics.definitions import Metrics
from ..settings import TlsClient
from ..tls import client_context
from .payload import SIGNATURE_HEADER, sign
from .queue import DiskQueue, Entry

__all__ = ["Destination", "Retryable", "Sender", "build_client"]

log = logging.getLogger("monitor.alerting")

_PERMANENT = {400, 413, 422}


class Retryable(Exception):
    """A delivery attempt failed in a way that may succeed later."""


class Refused(Exception):
    """The destination refused the body itself: retrying cannot help."""


def build_client(tls: TlsClient, timeout: float, auth: httpx.Auth | None = None,
                 headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    """An httpx client that verifies the server unless told otherwise, never follows
    redirects (a redirect could carry a signed body or credentials elsewhere)."""
    verify = client_context(tls, "alert delivery")
    return httpx.AsyncClient(verify=verify, timeout=timeout, follow_redirects=False, auth=auth,
                             headers=headers or {})


@dataclass(slots=True)
class Destination:
    """One URL we post to; ``kind`` is ``alertmanager`` (body = list of alerts, as queued) or
    ``webhook`` (body = Alertmanager webhook payload, signed at send time)."""

    name: str
    url: str
    kind: str
    queue: DiskQueue
    client: httpx.AsyncClient
    secret: bytes | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Sender:
    def __init__(self, destinations: list[Destination], metrics: Metrics, *,
                 initial_backoff: float = 1.0, max_backoff: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.destinations = destinations
        self._metrics = metrics
        self._initial, self._max = initial_backoff, max_backoff
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._lock_fds: list[int] = []
        for dest in destinations:
            metrics.add_alert_destination(dest.name)
            metrics.alerts_queued.labels(destination=dest.name).set(dest.queue.alerts)

    # -- lifecycle --------------------------------------------------------------------------

    def ensure_running(self) -> None:
        """Start (or restart after a crash) the delivery task; cheap when it runs."""
        if self._task is None or self._task.done():
            if self._task is not None and not self._task.cancelled() and \
                    self._task.exception() is not None:
                log.error("alert delivery stopped; restarting", extra={"fields": {
                    "error": repr(self._task.exception())}})
            self._task = asyncio.create_task(self._run(), name="alert-delivery")

    def wake(self) -> None:
        for dest in self.destinations:
            dest.wake.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for dest in self.destinations:
            await dest.client.aclose()
        self._unlock()

    def _unlock(self) -> None:
        for fd in self._lock_fds:
            os.close(fd)  # closing releases the flock
        self._lock_fds.clear()

    async def _lock(self) -> None:
        """Wait until no other sender (a replaced one, another process) owns these folders."""
        folders = sorted({str(d.queue.folder) for d in self.destinations})
        while True:
            fds: list[int] = []
            try:
                for folder in folders:
                    fd = os.open(os.path.join(folder, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
                    fds.append(fd)
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._lock_fds = fds
                return
            except BlockingIOError:
                for fd in fds:
                    os.close(fd)
                await asyncio.sleep(0.5)

    async def _run(self) -> None:
        await self._lock()
        try:
            await asyncio.gather(*(self._drain(d) for d in self.destinations))
        finally:
            self._unlock()

    # -- delivery ---------------------------------------------------------------------------

    async def _drain(self, dest: Destination) -> None:
        while True:
            entry = dest.queue.peek()
            if entry is None:
                dest.wake.clear()
                try:
                    await asyncio.wait_for(dest.wake.wait(), timeout=5.0)
                except TimeoutError:
                    pass
                continue
            await self._deliver(dest, entry)

    async def _deliver(self, dest: Destination, entry: Entry) -> None:
        try:
            body = entry.read()
        except FileNotFoundError:  # already delivered by a sender this one replaced
            dest.queue.ack(entry)
            return
        metrics, name = self._metrics, dest.name

        def failed(state: RetryCallState) -> None:
            metrics.alert_delivery_failures.labels(destination=name).inc()
            error = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning("alert delivery failed; retrying", extra={"fields": {
                "destination": name, "attempt": state.attempt_number, "error": str(error),
                "retry_in_s": round(wait, 2), "queued_alerts": dest.queue.alerts}})

        try:
            async for attempt in AsyncRetrying(
                    wait=wait_exponential(multiplier=self._initial, max=self._max)
                    + wait_random(0, self._initial),
                    retry=retry_if_exception_type(Retryable), stop=stop_never,
                    before_sleep=failed, reraise=True):
                with attempt:
                    await self._post(dest, body)
        except Refused as exc:
            metrics.alerts_dropped.labels(destination=name).inc(entry.alerts)
            log.error("destination refused a batch of alerts; dropped", extra={"fields": {
                "destination": name, "alerts": entry.alerts, "error": str(exc)}})
        else:
            metrics.alerts_sent.labels(destination=name).inc(entry.alerts)
            metrics.alert_last_success.labels(destination=name).set(self._clock())
        dest.queue.ack(entry)
        metrics.alerts_queued.labels(destination=name).set(dest.queue.alerts)

    async def _post(self, dest: Destination, body: bytes) -> None:
        headers = {"Content-Type": "application/json"}
        if dest.secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, dest.secret, int(self._clock()))
        try:
            response = await dest.client.post(dest.url, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise Retryable(f"{type(exc).__name__}: {exc}") from None
        if response.is_success:
            return
        text = response.text[:300].replace("\n", " ")
        if response.status_code in _PERMANENT:
            raise Refused(f"HTTP {response.status_code}: {text}")
        raise Retryable(f"HTTP {response.status_code}: {text}")


def encode(obj: Any) -> bytes:
    return orjson.dumps(obj)
