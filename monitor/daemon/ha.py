"""Active/standby election through one lease document in Elasticsearch.

Every instance runs a ``LeaseKeeper``. Each ``renew_seconds`` it calls
``StateStore.acquire_lease`` (compare-and-set on ``if_seq_no``/``if_primary_term``): the holder
renews, the others see a live lease and stay standby, and when the holder stops renewing its
lease expires after ``lease_seconds`` and the first standby to try takes it. A standby
therefore takes over at most ``lease_seconds + renew_seconds`` after the active instance died
(20 s with the defaults; the requirement is 30 s). A clean shutdown releases the lease so a
standby takes over at its next poll.

Our own view of "am I active" is bounded by our monotonic clock: a lease we got at ``t0`` is
trusted until ``t0 + lease_seconds - safety``, even if Elasticsearch becomes unreachable and
we cannot hear that someone else took over. That keeps two actives from overlapping as long
as the hosts' wall clocks (used for ``expires_at`` in the document) agree within ``safety``
(run NTP). The lease is the first guard; findings and windows use stable ids and their own
compare-and-set as the second.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from ..errors import StoreError
from ..settings import HaSettings
from ..store.state import StateStore

__all__ = ["LeaseKeeper", "LeaseThread", "default_instance_id"]

log = logging.getLogger("monitor.ha")


def default_instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class LeaseKeeper:
    def __init__(self, state: StateStore, settings: HaSettings, owner: str, *,
                 on_change: Callable[[bool], None] = lambda active: None,
                 safety_seconds: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._state = state
        self._settings = settings
        self.owner = owner
        self._on_change = on_change
        self._safety = min(safety_seconds, settings.lease_seconds / 4)
        self._clock = clock
        self._valid_until = 0.0
        self._lease = None
        self._was_active = False
        self.holder: str | None = None
        self.last_error: str | None = None
        self.became_active_at: float | None = None

    @property
    def active(self) -> bool:
        return self._lease is not None and self._clock() < self._valid_until

    def status(self) -> dict[str, object]:
        return {"role": "active" if self.active else "standby", "instance": self.owner,
                "holder": self.holder, "lease_error": self.last_error}

    async def tick(self) -> bool:
        """Try to take or renew the lease once; return whether we are active afterwards."""
        started = self._clock()
        try:
            lease = await self._state.acquire_lease(
                self._settings.lease_name, self.owner,
                timedelta(seconds=self._settings.lease_seconds))
        except StoreError as exc:
            self.last_error = str(exc)
            log.warning("lease renewal failed", extra={"fields": {"error": str(exc)}})
        else:
            self.last_error = None
            self.holder = lease.holder
            if lease.held:
                self._lease = lease
                self._valid_until = started + self._settings.lease_seconds - self._safety
            else:
                self._lease = None
                self._valid_until = 0.0
        self._notify()
        return self.active

    def _notify(self) -> None:
        active = self.active
        if active != self._was_active:
            self._was_active = active
            if active:
                self.became_active_at = time.time()
            log.warning("ha role changed", extra={"fields": {
                "role": "active" if active else "standby", "instance": self.owner,
                "holder": self.holder}})
            self._on_change(active)

    async def run(self, stop: asyncio.Event) -> None:
        """Renew (or poll for) the lease until ``stop`` is set."""
        while not stop.is_set():
            started = self._clock()
            await self.tick()
            # ticks start every renew_seconds (not renew_seconds after a slow answer)
            wait = max(0.05, started + self._settings.renew_seconds - self._clock())
            if self.active:
                # never sleep past our own validity: demote on time even if ES hangs
                wait = min(wait, max(0.05, self._valid_until - self._clock()))
            try:
                await asyncio.wait_for(stop.wait(), timeout=wait)
            except TimeoutError:
                pass
            self._notify()

    async def release(self) -> None:
        lease, self._lease, self._valid_until = self._lease, None, 0.0
        if lease is not None:
            try:
                await self._state.release_lease(lease)
                log.info("lease released", extra={"fields": {"instance": self.owner}})
            except StoreError as exc:
                log.warning("lease release failed; standbys take over after expiry",
                            extra={"fields": {"error": str(exc)}})
        self._notify()


class LeaseThread:
    """Runs a ``LeaseKeeper`` on its own thread, event loop and Elasticsearch connection.

    A job that keeps the daemon's event loop busy (parsing a large file, a slow aggregation)
    must not make the active instance miss its renewals and hand the lease over while it is
    alive and working. Renewal therefore never waits for the main loop. Role changes are
    delivered to ``on_change`` on the main loop; ``active`` may be read from any thread.
    """

    def __init__(self, open_state: Callable[[], tuple[StateStore, Callable[[], Any]]],
                 settings: HaSettings, owner: str, *,
                 on_change: Callable[[bool], None] = lambda active: None) -> None:
        self._open_state = open_state
        self._settings = settings
        self.owner = owner
        self._on_change = on_change
        self._main: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._release = True
        self._first = threading.Event()
        self.keeper: LeaseKeeper | None = None

    @property
    def active(self) -> bool:
        return self.keeper is not None and self.keeper.active

    @property
    def last_error(self) -> str | None:
        return self.keeper.last_error if self.keeper else "lease keeper not started"

    def status(self) -> dict[str, object]:
        return self.keeper.status() if self.keeper else {"role": "starting"}

    def start(self, first_tick_timeout: float = 30.0) -> None:
        """Start the thread; return after its first attempt (so jobs know our role)."""
        self._main = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="lease", daemon=True)
        self._thread.start()
        self._first.wait(first_tick_timeout)

    def _deliver(self, active: bool) -> None:
        assert self._main is not None
        try:
            self._main.call_soon_threadsafe(self._on_change, active)
        except RuntimeError:  # main loop already closed (exit)
            pass

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        state, close = self._open_state()
        self.keeper = LeaseKeeper(state, self._settings, self.owner, on_change=self._deliver)
        try:
            await self.keeper.tick()
            self._first.set()
            await self.keeper.run(self._stop)
            if self._release:
                await self.keeper.release()
        finally:
            self._first.set()
            await close()

    async def stop(self, release: bool = True, timeout: float = 15.0) -> None:
        """Stop renewing (and by default give the lease up) and wait for the thread."""
        self._release = release
        if self._loop is not None and self._stop is not None:
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:
                pass
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, timeout)
