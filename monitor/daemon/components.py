"""The component graph of ``monitor run``: what a builder is given and what it returns.

``Context`` carries the objects the composition root (``app``) has already built; a
``ComponentBuilder`` (``adapters.build_components``, or a test's own) turns it into
``Components``: jobs, long-lived services and the series the metrics start at zero. Living here
rather than in ``app`` keeps the arrows one way: ``app`` → ``adapters`` → ``components``.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..metrics.collectors import Positions
from ..metrics.definitions import Metrics
from ..settings import Settings
from ..store import BulkWriter, StateStore, Store
from .jobs import JobSpec

__all__ = ["ComponentBuilder", "Components", "Context", "Service"]


class Service(Protocol):
    """A long-lived task (a receiver). Runs on every instance, active or standby."""

    name: str

    async def run(self) -> None:
        """Serve until ``stop`` is called."""

    async def stop(self) -> None:
        """Stop accepting, flush buffers and the spool, persist cursors."""

    def status(self) -> dict[str, Any]:
        """``healthy`` (bool) plus anything worth showing on /readyz (spool bytes, queue)."""


@dataclass(slots=True)
class Context:
    """What builders get to construct jobs and services: shared, already-built objects."""

    settings: Settings
    store: Store
    writer: BulkWriter
    state: StateStore
    metrics: Metrics
    positions: Positions
    instance_id: str
    is_active: Callable[[], bool]
    #: a bulk writer whose results count for source ``name`` (its metrics, its silence)
    writer_for: Callable[[str], BulkWriter]
    #: on reload, the running components: receivers are kept, not built again
    previous: Components | None = None


@dataclass(slots=True)
class Components:
    jobs: list[JobSpec] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    #: threat rule ids and compliance control ids currently loaded (metric series)
    rule_ids: list[str] = field(default_factory=list)
    #: rule id -> (name, severity, type), for ``monitor_rule_info``
    rule_info: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    control_ids: list[str] = field(default_factory=list)
    #: framework → requirement ids in scope (metric series)
    frameworks: dict[str, list[str]] = field(default_factory=dict)
    #: source names that feed the writer (label of ``BulkWriter.write``) → spool capacity
    sources: dict[str, int] = field(default_factory=dict)
    #: sources whose silence is normal (git, forges): no SourceSilent alert for them
    quiet_sources: set[str] = field(default_factory=set)
    #: called on shutdown after services stopped: persist cursors, log out of APIs
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: per in-process receiver: arrival time before which all it took in is searchable, or
    #: None when nothing is pending; the rules job reads no further (``fastlane.read_until``)
    horizons: list[Callable[[], float | None]] = field(default_factory=list)
    #: called after the rules job stored new findings (alerting starts a sync at once)
    on_findings_created: list[Callable[[], None]] = field(default_factory=list)
    #: the compliance job sets the requirement metrics itself (else the stats job reads them)
    compliance_wired: bool = False


ComponentBuilder = Callable[[Context], Components]
