"""Turn a :class:`ReportData` into files: HTML (Jinja2), its JSON twin, optionally a PDF.

* Autoescaping is on for every template (``autoescape=True``, not by extension) and undefined
  names fail (``StrictUndefined``): a template typo is an error, not an empty cell.
* The only values marked safe are our own CSS and script (checked for closing tags) and SVG
  charts built by :mod:`charts` from escaped text.
* The Content-Security-Policy allows nothing but the exact inline style and script, by hash,
  and ``data:`` images: ``default-src 'none'`` blocks every network request.
* Same data → same bytes: no clock, no randomness, no dict-order dependence here.
* Files are written to a temporary name in the same folder and ``os.replace``d.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from ..resources import reports_dir
from . import charts
from .data import STATUS_LABELS, STATUSES, ReportData
from .period import iso

__all__ = [
    "csp",
    "environment",
    "file_stem",
    "render_html",
    "render_json",
    "sha256_hex",
    "static_assets",
    "to_jsonable",
    "write_atomic",
]

_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


def _t(value: datetime | None) -> str:
    if value is None:
        return "—"
    return iso(value).replace("T", " ").replace("Z", " UTC")


def _dur(seconds: float) -> str:
    seconds = int(seconds)
    if seconds <= 0:
        return "0"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "",
             f"{minutes}m" if minutes and not days else ""]
    return " ".join(p for p in parts if p) or f"{seconds}s"


def _natkey(text: str) -> str:
    """A sort key string that orders 1.2.10 after 1.2.9 (used in ``data-sort``)."""
    return ".".join(p.zfill(6) if p.isdigit() else p for p in re.split(r"[.\-]", str(text)))


def environment(folder: Path | None = None) -> Environment:
    env = Environment(loader=FileSystemLoader(str(folder or reports_dir() / "templates")),
                      autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True,
                      trim_blocks=False, lstrip_blocks=False)
    env.filters.update({
        "t": _t, "iso": lambda v: iso(v) if v else "", "dur": _dur,
        "pct": lambda v: f"{v:.1f}%", "slug": lambda v: _SLUG.sub("_", str(v)),
        "natkey": _natkey, "rank": lambda s: STATUSES.index(s) if s in STATUSES else 99,
    })
    env.globals["labels"] = STATUS_LABELS
    return env


def static_assets(folder: Path | None = None) -> tuple[str, str]:
    """The inline CSS and script, refusing content that could close its element early."""
    base = folder or reports_dir() / "templates"
    css = (base / "report.css").read_text(encoding="utf-8")
    js = (base / "report.js").read_text(encoding="utf-8")
    if "</style" in css.lower() or "</script" in js.lower() or "<!--" in js:
        raise ValueError("report assets must not contain closing tags")
    return css, js


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def csp(css: str, js: str) -> str:
    """Strict policy for a file opened from disk: only our inline style and script run."""
    return ("default-src 'none'; style-src " + _hash(css) + "; script-src " + _hash(js)
            + "; img-src data:; font-src 'none'; connect-src 'none'; base-uri 'none'; "
              "form-action 'none'")


def _charts(data: ReportData) -> dict[str, Markup]:
    s = data.summary
    fmt = "%m-%d %H:%M" if data.threats.timeline_interval.endswith("h") else "%Y-%m-%d"
    return {
        "requirements": charts.status_bar(s.requirement_counts, STATUS_LABELS,
                                          "Requirements by status"),
        "controls": charts.status_bar(s.control_counts, STATUS_LABELS, "Controls by status"),
        "trend": charts.trend_line([(p.label, p.score) for p in s.trend],
                                   "Score over the last reports"),
        "timeline": charts.timeline([(b.start, b.counts) for b in data.threats.timeline],
                                    "Findings over time by severity", fmt),
    }


def render_html(data: ReportData, *, json_name: str | None = None,
                folder: Path | None = None) -> str:
    env = environment(folder)
    css, js = static_assets(folder)
    p = data.provenance
    strips = [charts.availability_strip(p.period_start, p.period_end,
                                        [(g.start, g.end) for g in src.gaps],
                                        f"{src.name}: silent {len(src.gaps)} time(s)")
              for src in p.sources]
    return env.get_template("report.html.j2").render(
        r=data, charts=_charts(data), strips=strips, css=Markup(css),
        js=Markup(js), csp=csp(css, js), json_name=json_name)


def render_index(entries: list[dict[str, Any]], folder: Path | None = None) -> str:
    env = environment(folder)
    css, js = static_assets(folder)
    return env.get_template("index.html.j2").render(
        entries=entries, css=Markup(css), js=Markup(js), csp=csp(css, js))


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


def render_json(data: ReportData) -> bytes:
    body = {"schema": "pci-compliance-monitor/report/v1", "status_labels": STATUS_LABELS,
            "report": to_jsonable(data)}
    return orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def file_stem(framework: str, period_label: str) -> str:
    """``pci-dss-4.0.1_daily_2026-11-24``: framework and period, safe for any file system."""
    return _SLUG.sub("_", f"{framework}_{period_label}")


def sha256_hex(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


#: reports hold firewall logs and findings: owner and group only (``reports.file_mode``)
FILE_MODE = 0o640


def write_atomic(path: Path, payload: bytes, mode: int | None = None) -> None:
    """Write to a temporary file in the same folder, fsync, then ``os.replace``; the file gets
    ``mode`` (default ``FILE_MODE``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
