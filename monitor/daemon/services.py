"""The long-lived services of ``monitor run`` (receivers): run, watch, stop.

Each service runs as a task under a restart loop with backoff (a receiver crash is counted and
retried, never fatal); stopping leaves the service to bound its own flush and spool the rest;
its status feeds /readyz and the receiver metrics. Kept out of ``app.Daemon`` so the composition
root only wires and sequences.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from ..metrics.definitions import Metrics
from .components import Service
from .lifecycle import Lifecycle

__all__ = ["ServiceRunner"]

log = logging.getLogger("monitor.daemon")


class ServiceRunner:
    """The tasks of the running services, by name."""

    def __init__(self, metrics: Metrics, lifecycle: Lifecycle, started_at: float) -> None:
        self.metrics, self.lifecycle, self.started_at = metrics, lifecycle, started_at
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, service: Service, silent_after: float) -> None:
        """Run ``service`` until shutdown, restarting it (1 s doubling to 60 s) when it fails."""
        async def guarded() -> None:
            backoff = 1.0
            while not self.lifecycle.should_exit:
                try:
                    await service.run()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a receiver crash is retried
                    self.metrics.source_errors.labels(source=service.name).inc()
                    self.metrics.source_up.labels(source=service.name).set(0)
                    log.error("service failed; restarting", extra={"fields": {
                        "service": service.name, "error": f"{type(exc).__name__}: {exc}",
                        "retry_in_s": backoff}})
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 60.0)

        self.metrics.add_source(service.name, service.status().get("spool_capacity_bytes"),
                                silent_after, started_at=self.started_at)
        self.metrics.source_up.labels(source=service.name).set(1)
        self.tasks[service.name] = asyncio.create_task(guarded(), name=service.name)

    async def stop(self, service: Service) -> None:
        """Ask ``service`` to stop; no timeout here: a receiver bounds its own flush."""
        try:
            await service.stop()
        except Exception as exc:  # noqa: BLE001 - one failing component must not stop the others
            log.error("service stop failed", extra={"fields": {
                "service": service.name, "error": f"{type(exc).__name__}: {exc}"}})
        task = self.tasks.get(service.name)
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=2)
            except (TimeoutError, Exception):  # noqa: BLE001 - one failing component must not stop the others
                task.cancel()

    def stopped(self) -> list[str]:
        """Names of services whose task has ended."""
        return [name for name, task in self.tasks.items() if task.done()]

    def statuses(self, services: Iterable[Service]) -> dict[str, dict[str, Any]]:
        """Each service's own status (for the receiver metrics; a failing one reads empty)."""
        out = {}
        for service in services:
            try:
                out[service.name] = dict(service.status())
            except Exception:  # noqa: BLE001 - a scrape must not fail because of one receiver
                out[service.name] = {}
        return out

    def health(self, services: Iterable[Service]) -> dict[str, dict[str, Any]]:
        """Status per service for /readyz; unhealthy when it raises or its task has ended."""
        out = {}
        for service in services:
            try:
                status = dict(service.status())
            except Exception as exc:  # noqa: BLE001 - one failing component must not stop the others
                status = {"healthy": False, "error": str(exc)}
            task = self.tasks.get(service.name)
            if task is None or task.done():
                status["healthy"] = False
            out[service.name] = status
        return out
