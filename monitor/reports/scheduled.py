"""The daemon's report job (``monitor/daemon/adapters.py`` looks for ``render_scheduled``).

::

    async def render_scheduled(store: Store, kind: ReportKind, settings: Settings | ReportsSettings,
                               out_dir: Path, now: datetime) -> ReportRecord

Pass the full ``Settings`` when you have it: the configured scope (gateways, repositories),
the rule folders and the waivers file come from there. With only ``ReportsSettings`` the report
uses the bundled rule packs, no waivers file and an empty configured scope (it says so).
``ReportRecord.path`` is the HTML file (or the first file written).
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ..settings import ReportKind, ReportsSettings, Settings
from ..store import Store
from .job import render_report
from .publish import ReportRecord

__all__ = ["render_scheduled"]


async def render_scheduled(store: Store, kind: ReportKind, settings: Settings | ReportsSettings,
                           out_dir: Path, now: datetime) -> ReportRecord:
    full = settings if isinstance(settings, Settings) else Settings(
        elasticsearch=store.settings, reports=settings)
    return await render_report(full, store, kind, now, out_dir=out_dir)
