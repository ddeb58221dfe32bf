"""Composition root of ``monitor run``: the only place that builds objects.

Reads top to bottom like uvicorn's server: ``serve`` → ``startup`` → ``main_loop`` →
``shutdown``. ``Settings`` holds values; this module turns them into a store, a bulk writer, a
registry with every metric, the lease keeper, the HTTP endpoint, the job table and the
long-lived services (receivers). What the sources, rule engine, compliance and reports
packages contribute comes from a ``ComponentBuilder`` (``adapters.build_components`` by
default; tests inject their own), so this file never imports them. The component graph
(``Context`` in, ``Components`` out) is drawn in ``components``.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from .. import __version__
from ..errors import ConfigError, MonitorError, RuleError, StoreError
from ..logsetup import Redactor
from ..metrics.collectors import LagCollector, Positions, ReceiverCollector
from ..metrics.definitions import Metrics
from ..metrics.instrument import instrument_store
from ..metrics.server import MetricsServer
from ..normalize.native import describe as normalizer_in_use
from ..redact import redact
from ..settings import Settings, load_settings
from ..store import BulkWriter, StateStore, Store, open_store
from ..store.setup import apply_retention, install_templates, template_status
from .adapters import build_components
from .clusterhealth import cluster_health
from .components import ComponentBuilder, Components, Context
from .diagnose import diagnose, not_up_yet
from .ha import LeaseThread, default_instance_id
from .jobs import JobSpec, JobTable, RunReport, interval
from .lifecycle import (
    EXIT_FORCED,
    EXIT_OK,
    EXIT_STARTUP_FAILURE,
    Lifecycle,
    remove_pidfile,
    write_pidfile,
)
from .memory import trim_heap
from .services import ServiceRunner
from .stats import refresh_stats
from .writes import SourceWrites

__all__ = ["Daemon", "StartupError"]

log = logging.getLogger("monitor.daemon")


class StartupError(MonitorError):
    """The daemon cannot start (Elasticsearch unreachable, refused credentials, bad TLS)."""


class Daemon:
    def __init__(self, settings: Settings, *, config_path: str | Path | None = None,
                 builder: ComponentBuilder | None = None,
                 registry: CollectorRegistry | None = None,
                 redactor: Redactor | None = None) -> None:
        self.settings = settings
        self.config_path = Path(config_path) if config_path else None
        self._builder = builder or build_components
        self.registry = registry or CollectorRegistry()
        self.metrics = Metrics(self.registry, __version__)
        self.positions = Positions()
        self.registry.register(LagCollector(self.positions))
        self.registry.register(ReceiverCollector(
            lambda: self.services.statuses(self.components.services)))
        self.instance_id = settings.ha.instance_id or default_instance_id()
        self.lifecycle = Lifecycle()
        self._redactor = redactor
        self.store: Store | None = None
        self.lease: LeaseThread | None = None
        self.jobs: JobTable | None = None
        self.server: MetricsServer | None = None
        self.components = Components()
        self._background: list[asyncio.Task[None]] = []
        self._stop_background = asyncio.Event()
        self.last_reload_error: str | None = None
        self._es_ok = False
        self._started_at = time.time()
        self.services = ServiceRunner(self.metrics, self.lifecycle, self._started_at)
        self.writes = SourceWrites(self.metrics, self._known_sources)

    # -- serve ------------------------------------------------------------------------------

    async def serve(self) -> int:
        pidfile = self.settings.daemon.pidfile
        with self.lifecycle.capture():
            try:
                if pidfile:
                    write_pidfile(pidfile)
                await self.startup()
            except (StartupError, ConfigError, RuleError, RuntimeError, OSError) as exc:
                log.error("startup failed", extra={"fields": {"error": str(exc)}})
                if self.lease is not None:
                    await self.lease.stop(release=True)
                await self._close_quietly()
                if pidfile:
                    remove_pidfile(pidfile)
                return EXIT_STARTUP_FAILURE
            try:
                await self.main_loop()
            finally:
                code = await self.shutdown()
                if pidfile:
                    remove_pidfile(pidfile)
        return code

    async def startup(self) -> None:
        settings = self.settings
        self.metrics.start_time.set(time.time())
        self._started_at = self.services.started_at = time.time()
        self.store = open_store(settings.elasticsearch)
        instrument_store(self.store, self.metrics)
        await self._check_elasticsearch()
        writer = self.writes.writer(self.store)
        state = StateStore(self.store)
        es_settings = settings.elasticsearch

        def open_lease_state() -> tuple[StateStore, Callable[[], Awaitable[None]]]:
            # its own connection: the lease thread has its own event loop
            lease_store = open_store(es_settings)
            return StateStore(lease_store), lease_store.close

        self.lease = LeaseThread(open_lease_state, settings.ha, self.instance_id,
                                 on_change=self._on_role_change)
        self.jobs = JobTable(self.metrics, self.positions, is_active=lambda: self._is_active())
        self.metrics.set_role(False)
        self.registry_gauge_functions()
        self._ctx = Context(settings=settings, store=self.store, writer=writer, state=state,
                            metrics=self.metrics, positions=self.positions,
                            instance_id=self.instance_id, is_active=self._is_active,
                            writer_for=self._writer_for)
        self.components = self._build(self._ctx)
        self._apply_components(self.components, first=True)
        # the lease first, so active-only jobs scheduled "now" already know our role
        self.lease.start()
        self.server = MetricsServer(settings.http, self.registry, self.readiness,
                                    reload=self.lifecycle.request_reload)
        await self.server.start()
        for service in self.components.services:
            self.services.start(service, self.settings.daemon.source_silent_after_seconds)
        self.jobs.start()
        log.warning("daemon started", extra={"fields": {
            "instance": self.instance_id, "version": __version__,
            "role": "active" if self.lease.active else "standby",
            "jobs": ",".join(sorted(self.jobs.specs)),
            "services": ",".join(s.name for s in self.components.services),
            "checkpoint_normalizer": normalizer_in_use()}})

    def registry_gauge_functions(self) -> None:
        self.metrics.ha_active.set_function(lambda: 1.0 if self._is_active() else 0.0)

    def _is_active(self) -> bool:
        return self.lease is not None and self.lease.active

    async def _check_elasticsearch(self) -> None:
        assert self.store is not None
        deadline = time.monotonic() + self.settings.daemon.startup_timeout_seconds
        while True:
            try:
                health = await self.store.health(timeout="2s")
                if health.get("status") not in ("yellow", "green"):
                    raise StoreError(f"cluster status {health.get('status')}")
                break
            except StoreError as exc:
                message = diagnose(exc, self.settings)
                retriable = not_up_yet(exc) or "(503)" in str(exc) or "cluster status" in str(exc)
                if not retriable or time.monotonic() >= deadline or self.lifecycle.should_exit:
                    raise StartupError(message) from None
                log.warning("waiting for Elasticsearch", extra={"fields": {"error": message}})
                await asyncio.sleep(1.0)
        self._es_ok = True
        self.metrics.es_up.set(1)
        try:
            await self.store.detect()
        except StoreError as exc:
            raise StartupError(diagnose(exc, self.settings)) from None
        try:
            statuses = await template_status(self.store)
        except StoreError as exc:
            if "403" not in str(exc):
                raise StartupError(diagnose(exc, self.settings)) from None
            log.info("cannot read index templates with this user (no manage_index_templates); "
                     "assuming an administrator ran `monitor es setup`")
            return
        if any(s.action != "unchanged" for s in statuses):
            try:
                installed = await install_templates(self.store)
            except StoreError as exc:
                raise StartupError(diagnose(exc, self.settings)) from None
            log.info("index templates installed", extra={"fields": {
                "templates": ",".join(f"{s.name}={s.action}" for s in installed)}})

    def _build(self, ctx: Context) -> Components:
        components = self._builder(ctx)
        components.jobs = [*components.jobs, *self._own_jobs(ctx)]
        return components

    def _own_jobs(self, ctx: Context) -> list[JobSpec]:
        settings = ctx.settings
        retention = settings.retention
        keep = {"events": retention.events_months, "changes": retention.changes_months,
                "findings": retention.findings_months, "compliance": retention.findings_months,
                "deadletter": retention.events_months}
        store = ctx.store

        async def retention_job() -> RunReport:
            deleted = await apply_retention(store, keep)
            return RunReport(counts={"deleted_indices": len(deleted)})

        async def stats_job() -> RunReport:
            report = await self._refresh_stats()
            trim_heap()  # keeps resident memory flat under steady ingestion (memory.py)
            return report

        return [
            JobSpec("retention", retention_job, interval(retention.schedule.interval_seconds),
                    kind="retention", active_only=True),
            JobSpec("stats", stats_job, interval(settings.daemon.stats_interval_seconds),
                    kind="stats", active_only=False),
        ]

    def _apply_components(self, components: Components, first: bool = False) -> None:
        assert self.jobs is not None
        metrics = self.metrics
        silent_after = self.settings.daemon.source_silent_after_seconds
        for name, capacity in components.sources.items():
            metrics.add_source(name, capacity,
                               0.0 if name in components.quiet_sources else silent_after,
                               started_at=self._started_at)
            self.positions.track_source(name)
        for rule_id in [*components.rule_ids]:
            metrics.add_rule(rule_id)
        self.positions.retain_rules(set(components.rule_ids))
        metrics.set_rule_info(components.rule_info)
        metrics.rules_loaded.labels(kind="threat").set(len(components.rule_ids))
        metrics.rules_loaded.labels(kind="control").set(len(components.control_ids))
        for framework, requirements in components.frameworks.items():
            metrics.add_framework(framework, requirements)
        for kind in self.settings.reports.kinds:
            metrics.add_report_kind(kind.framework, kind.period)
        if first:
            for spec in components.jobs:
                self.jobs.add(spec)
        else:
            changes = self.jobs.replace(components.jobs)
            log.info("job table updated", extra={"fields": {k: ",".join(v) for k, v in
                                                            changes.items()}})

    # -- main loop --------------------------------------------------------------------------

    async def main_loop(self) -> None:
        while not self.lifecycle.should_exit:
            await self.lifecycle.wait()
            if self.lifecycle.should_exit:
                break
            if self.lifecycle.take_reload():
                await self.reload()
            if not self.lifecycle.should_exit:
                for name in self.services.stopped():
                    log.error("service stopped unexpectedly", extra={"fields": {"service": name}})

    async def reload(self) -> bool:
        """Re-read config and rules; validate everything first; keep the old on error."""
        source = str(self.config_path) if self.config_path else "<settings>"
        try:
            new = load_settings(self.config_path) if self.config_path else self.settings
            restart_only = [name for name in ("elasticsearch", "http", "ha", "logging")
                            if getattr(new, name) != getattr(self.settings, name)]
            ctx = Context(settings=new, store=self._ctx.store, writer=self._ctx.writer,
                          state=self._ctx.state, metrics=self.metrics,
                          positions=self.positions, instance_id=self.instance_id,
                          is_active=self._is_active, writer_for=self._writer_for,
                          previous=self.components)
            components = self._build(ctx)
        except (ConfigError, RuleError, MonitorError, ValueError, OSError) as exc:
            # shown on /readyz without authentication: never a secret, even a mistyped one
            text = f"{type(exc).__name__}: {exc}"
            self.last_reload_error = self._redactor(text) if self._redactor else redact(text)
            self.metrics.config_reloads.labels(outcome="error").inc()
            self.metrics.config_last_reload_ok.set(0)
            log.error("reload refused; keeping the running configuration and rules",
                      extra={"fields": {"file": source, "error": str(exc)}})
            return False
        old_services = {s.name for s in self.components.services}
        new_services = {s.name for s in components.services}
        components.services = self.components.services  # receivers keep running
        for name in self.components.sources:
            if name not in components.sources and name not in old_services:
                self.metrics.remove_source(name)
                self.positions.forget_source(name)
        previous = self.components
        self.settings = new
        self._ctx = ctx
        self.components = components
        if previous.closers:
            self._background.append(asyncio.create_task(
                self._close_replaced(previous, self.jobs.running_tasks() if self.jobs else [])))
        self._apply_components(components)
        self.last_reload_error = None
        self.metrics.config_reloads.labels(outcome="success").inc()
        self.metrics.config_last_reload_ok.set(1)
        fields: dict[str, Any] = {"file": source, "rules": len(components.rule_ids),
                                  "controls": len(components.control_ids)}
        if restart_only:
            fields["needs_restart"] = ",".join(restart_only)
        if new_services != old_services:
            fields["receivers_changed"] = "restart to apply"
        log.warning("reload applied", extra={"fields": fields})
        return True

    async def _close_replaced(self, previous: Components,
                              running: list[asyncio.Task[Any]]) -> None:
        """After a reload: let runs of the replaced jobs finish, then close what they held
        (API sessions), so nothing leaks and no run loses its session mid-way."""
        if running:
            await asyncio.wait(running, timeout=600)
        for closer in previous.closers:
            try:
                await closer()
            except Exception as exc:  # noqa: BLE001 - one failing component must not stop the others
                log.warning("closing a replaced source failed",
                            extra={"fields": {"error": str(exc)}})

    # -- readiness and stats ----------------------------------------------------------------

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        es_ok, cluster = await cluster_health(self.store, self.metrics)
        self._es_ok = es_ok
        services = self.services.health(self.components.services)
        sources_ok = all(bool(s.get("healthy")) for s in services.values())
        lease = self.lease.status() if self.lease else {"role": "starting"}
        lease_ok = self.lease is not None and self.lease.last_error is None
        # pull sources are reported, but do not make the instance unready: a management API
        # outage must not take the receivers on this instance out of a load balancer
        pulled = dict(self.jobs.source_health) if self.jobs is not None else {}
        details = {"elasticsearch": es_ok, "cluster": cluster, "ha": lease, "services": services,
                   "pull_sources": pulled,
                   "last_reload_error": self.last_reload_error,
                   "shutting_down": self.lifecycle.should_exit}
        ok = es_ok and sources_ok and lease_ok and not self.lifecycle.should_exit
        return ok, details

    async def _refresh_stats(self) -> RunReport:
        assert self.store is not None
        return await refresh_stats(self.store, self.metrics, self.positions, self.components,
                                   self.settings)

    # -- hooks ------------------------------------------------------------------------------

    def _writer_for(self, source: str) -> BulkWriter:
        assert self.store is not None
        return self.writes.writer_for(self.store, source)

    def _known_sources(self) -> set[str]:
        return {*self.components.sources, *(s.name for s in self.components.services)}

    def _on_role_change(self, active: bool) -> None:
        self.metrics.set_role(active)
        self.metrics.ha_transitions.labels(to="active" if active else "standby").inc()
        if not active and self.jobs is not None:
            cancelled = self.jobs.cancel_active_only()
            if cancelled:
                log.warning("lease lost: cancelled active-only runs",
                            extra={"fields": {"cancelled": cancelled}})

    # -- shutdown ---------------------------------------------------------------------------

    async def shutdown(self) -> int:
        """Stop accepting, drain, flush, persist, release; bounded by the shutdown timeout."""
        started = time.monotonic()
        bound = self.settings.daemon.shutdown_timeout_seconds
        forced = self.lifecycle.forced
        log.warning("stopping", extra={"fields": {"timeout_s": bound}})

        deadline = started + bound

        def left(share: float = 1.0) -> float:
            return max(0.5, (deadline - time.monotonic()) * share)

        async def graceful() -> None:
            if self.server is not None:
                await self.server.stop()  # health checks now fail fast: we are going away
            # receivers stop accepting and flush their buffers and spool
            await asyncio.gather(*(self.services.stop(s) for s in self.components.services))
            if self.jobs is not None:
                await self.jobs.stop(left(0.6))
            self._stop_background.set()

            async def close(closer: Callable[[], Awaitable[None]]) -> None:
                try:
                    await closer()
                except Exception as exc:  # noqa: BLE001 - one failing component must not stop the others
                    log.error("close failed", extra={"fields": {"error": str(exc)}})

            # persist cursors / log out, and hand the lease over, side by side
            await asyncio.gather(*(close(c) for c in self.components.closers),
                                 *([self.lease.stop(release=True, timeout=left())]
                                   if self.lease is not None else []))

        work = asyncio.create_task(graceful())
        force = asyncio.create_task(forced.wait())
        done, _ = await asyncio.wait({work, force}, timeout=bound,
                                     return_when=asyncio.FIRST_COMPLETED)
        code = EXIT_OK
        if work not in done:
            work.cancel()
            code = EXIT_FORCED
            log.error("shutdown did not finish in time" if force not in done else
                      "forced exit", extra={"fields": {"elapsed_s": round(time.monotonic() -
                                                                          started, 2)}})
        force.cancel()
        leftovers = [t for t in [*self.services.tasks.values(), *self._background]
                     if not t.done()]
        for task in leftovers:
            task.cancel()
        if leftovers:
            await asyncio.wait(leftovers, timeout=2)
        await self._close_quietly()
        log.warning("stopped", extra={"fields": {"exit_code": code,
                                                 "elapsed_s": round(time.monotonic() - started,
                                                                    2)}})
        return code

    async def _close_quietly(self) -> None:
        if self.store is not None:
            try:
                await self.store.close()
            except Exception as exc:  # noqa: BLE001 - closing on the way out
                log.debug("closing the store failed: %s", exc)
            self.store = None
