"""Periodic compliance reports: self-contained HTML with a JSON twin (and PDF on request).

Flow: ``gather.gather_report`` (aggregations via ``monitor.store.search``) → ``data.ReportData``
(plain frozen values) → ``render`` (Jinja2, autoescaped, strict CSP, inline SVG from ``charts``)
→ ``publish`` (atomic files, manifest + index.html, retention, record with SHA-256 in the
``reports`` index). ``job.render_report`` does all of it for one period; the daemon calls
``scheduled.render_scheduled``, the CLI ``monitor report``.

    async def render_report(settings: Settings, store: Store, kind: ReportKind | str,
                            now: datetime, *, period=None, out_dir=None, formats=None,
                            inputs=None, stats=None) -> ReportRecord
"""
from __future__ import annotations

from typing import Any

__all__ = ["ReportRecord", "build_inputs", "render_report"]


def __getattr__(name: str) -> Any:
    """Loaded on first use: the CLI imports ``reports.period`` without Jinja2 and the store."""
    if name in ("build_inputs", "render_report"):
        from . import job

        return getattr(job, name)
    if name == "ReportRecord":
        from .publish import ReportRecord

        return ReportRecord
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
