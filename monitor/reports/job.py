"""One report, end to end: the daemon scheduler's entry point and the CLI's engine.

::

    async def render_report(settings: Settings, store: Store, kind: ReportKind | str,
                            now: datetime, *, period: Period | None = None,
                            out_dir: Path | None = None, formats: Sequence[str] | None = None,
                            inputs: ReportInputs | None = None,
                            stats: SearchStats | None = None) -> ReportRecord

``kind`` is a ``ReportKind`` from ``settings.reports.kinds`` or a period name
(``daily|weekly|monthly|quarterly``); the report covers the last complete period before ``now``
unless ``period`` is given (``--from/--to``). It gathers the data, writes the files atomically
into ``out_dir`` (default ``settings.reports.dir``, relative to the settings file), updates the
folder's manifest and ``index.html``, applies ``settings.reports.keep`` and records the report
with its SHA-256 in the ``reports`` index. Idempotent per period: re-running replaces the files.
Raises ``StoreError`` (Elasticsearch) or ``ChromiumError`` (PDF); nothing is half-written.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from .. import __version__
from ..settings import ReportKind, Settings
from ..store import Store
from ..store.search import SearchStats
from .gather import gather_report
from .inputs import (
    ReportInputs,
    load_catalogue,
    load_control_meta,
    load_source_datasets,
    load_source_intervals,
    load_waivers,
    rulepack_version,
)
from .period import Period, period_for
from .publish import ReportRecord, record_report, update_index, write_report_files

__all__ = ["build_inputs", "render_report"]


def build_inputs(settings: Settings, framework: str = "pci-dss-4.0.1") -> ReportInputs:
    """Catalogue, control metadata, waivers, versions and configured scope from the settings."""
    rules_dirs = [d if d.is_absolute() else settings.base_dir / d for d in settings.rules.dirs]
    catalogue_path = next((d / "pci" / "requirements.yaml" for d in rules_dirs
                           if (d / "pci" / "requirements.yaml").exists()), None)
    controls_dir = next((d / "pci" / "controls" for d in rules_dirs
                         if (d / "pci" / "controls").is_dir()), None)
    catalogue, version, notes = load_catalogue(catalogue_path)
    controls, problems = load_control_meta(controls_dir)
    sources_file = controls_dir.parent / "sources.yaml" if controls_dir else None
    source_datasets = load_source_datasets(sources_file)
    source_intervals = load_source_intervals(sources_file)
    waivers_path = settings.rules.exceptions_file
    if waivers_path is not None and not waivers_path.is_absolute():
        waivers_path = settings.base_dir / waivers_path
    waivers, waiver_problems = load_waivers(waivers_path)
    if not catalogue:
        notes.append("requirements catalogue missing: requirements no control reports on "
                     "cannot be listed")
    src = settings.sources
    gateways, change_repos = _inventory_scope(settings, notes)
    return ReportInputs(
        framework=framework, framework_version=version if version != "unknown" else "4.0.1",
        catalogue=catalogue, controls=controls, waivers=waivers, daemon_version=__version__,
        rulepack_version=rulepack_version(rules_dirs[0]) if rules_dirs else rulepack_version(),
        scope_gateways=gateways, change_repos=change_repos,
        scope_repositories=tuple(sorted([g.name for g in src.git]
                                        + [r for g in src.github for r in g.repositories]
                                        + [p for g in src.gitlab for p in g.projects])),
        notes=tuple(notes + problems + waiver_problems), source_datasets=source_datasets,
        source_intervals=source_intervals)


def _inventory_scope(settings: Settings, notes: list[str]
                     ) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """The gateways in scope are the inventory's (Check Point API sources are management
    servers, not gateways), and its management servers' repositories bind the change-control
    match; an unreadable inventory is a note in the report, not a crash."""
    path = settings.rules.inventory_file
    if path is None:
        return (), {}
    from ..errors import MonitorError
    from ..inventory import load_inventory
    from ..inventory.reconcile import repos_by_origin

    try:
        inventory = load_inventory(path if path.is_absolute() else settings.base_dir / path)
    except MonitorError as exc:
        notes.append(f"inventory {path} unreadable, gateways in scope unknown: {exc}"[:500])
        return (), {}
    return (tuple(sorted({g.name for g in inventory.gateways})),
            repos_by_origin(inventory.params()))


async def render_report(settings: Settings, store: Store, kind: ReportKind | str, now: datetime,
                        *, period: Period | None = None, out_dir: Path | None = None,
                        formats: Sequence[str] | None = None, inputs: ReportInputs | None = None,
                        stats: SearchStats | None = None) -> ReportRecord:
    framework = kind.framework if isinstance(kind, ReportKind) else "pci-dss-4.0.1"
    period_name = kind.period if isinstance(kind, ReportKind) else kind
    period = period or period_for(period_name, now)
    inputs = inputs or build_inputs(settings, framework)
    folder = out_dir or settings.reports.dir
    if not folder.is_absolute():
        folder = settings.base_dir / folder
    data = await gather_report(store, period, inputs, now, stats)
    record = await write_report_files(data, folder, list(formats or settings.reports.formats),
                                      settings.reports.chromium, settings.reports.file_mode)
    update_index(folder, record, settings.reports.keep)
    await record_report(store, record)
    return record
