"""Write a report's files, keep the folder's manifest and ``index.html``, apply retention,
and record the report (with the SHA-256 of each file) in the ``reports`` index.

The manifest ``reports.json`` lists every report the folder holds; ``index.html`` is rendered
from it. Retention keeps the newest ``keep`` reports per (framework, period kind) and deletes
the files of older ones; files the manifest does not list are never touched.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from ..model import Document
from ..store import BulkWriter, Store
from .data import ReportData
from .pdf import html_to_pdf
from .period import iso
from .render import (
    FILE_MODE,
    file_stem,
    render_html,
    render_index,
    render_json,
    sha256_hex,
    write_atomic,
)

__all__ = [
    "MANIFEST",
    "ReportFile",
    "ReportRecord",
    "record_report",
    "update_index",
    "write_report_files",
]

MANIFEST = "reports.json"
FORMATS = ("html", "json", "pdf")


@dataclass(frozen=True, slots=True)
class ReportFile:
    format: str
    path: Path
    sha256: str
    bytes: int


@dataclass(frozen=True, slots=True)
class ReportRecord:
    """What one rendered report is: returned to the scheduler, stored in Elasticsearch."""

    id: str
    framework: str
    period: str
    label: str
    start: datetime
    end: datetime
    generated_at: datetime
    status: str
    score: float | None
    counts: dict[str, int]
    statuses: tuple[str, ...]
    files: tuple[ReportFile, ...]

    @property
    def path(self) -> Path | None:
        """The HTML file, else the first file written."""
        for f in self.files:
            if f.format == "html":
                return f.path
        return self.files[0].path if self.files else None

    @property
    def sha256(self) -> str:
        """SHA-256 of the HTML (else of the first file): the report's fingerprint."""
        for f in self.files:
            if f.format == "html":
                return f.sha256
        return self.files[0].sha256 if self.files else ""


async def write_report_files(data: ReportData, out_dir: Path, formats: list[str] | tuple[str, ...],
                             chromium: Path = Path("/usr/bin/chromium"),
                             mode: int = FILE_MODE) -> ReportRecord:
    """Render and write the requested formats (PDF is printed from the HTML); every file gets
    ``mode`` (``reports.file_mode``, default 0640: reports carry firewall logs)."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"unknown report format(s) {unknown or formats}: use html, json, pdf")
    p = data.provenance
    stem = file_stem(p.framework, p.period_label)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[ReportFile] = []
    json_name = f"{stem}.json" if "json" in formats else None
    html_path = out_dir / f"{stem}.html"
    if "json" in formats:
        payload = render_json(data)
        write_atomic(out_dir / f"{stem}.json", payload, mode)
        files.append(ReportFile("json", out_dir / f"{stem}.json", sha256_hex(payload), len(payload)))
    if "html" in formats or "pdf" in formats:
        payload = render_html(data, json_name=json_name).encode("utf-8")
        write_atomic(html_path, payload, mode)
        if "html" in formats:
            files.append(ReportFile("html", html_path, sha256_hex(payload), len(payload)))
    if "pdf" in formats:
        pdf_path = out_dir / f"{stem}.pdf"
        await html_to_pdf(html_path, pdf_path, chromium, mode=mode)
        blob = pdf_path.read_bytes()
        files.append(ReportFile("pdf", pdf_path, sha256_hex(blob), len(blob)))
        if "html" not in formats:
            html_path.unlink(missing_ok=True)
    s = data.summary
    return ReportRecord(
        id=f"{p.framework}:{p.period_label}:{iso(p.generated_at)}", framework=p.framework,
        period=p.period_kind, label=p.period_label, start=p.period_start, end=p.period_end,
        generated_at=p.generated_at, status=s.status, score=s.score,
        counts=dict(s.requirement_counts),
        statuses=tuple(f"{r.id}={r.status}" for r in data.requirements),
        files=tuple(sorted(files, key=lambda f: FORMATS.index(f.format))))


def _load_manifest(out_dir: Path) -> list[dict[str, Any]]:
    path = out_dir / MANIFEST
    if not path.exists():
        return []
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError:
        return []
    return [e for e in data.get("reports", []) if isinstance(e, dict) and "stem" in e]


def update_index(out_dir: Path, record: ReportRecord, keep: int) -> list[Path]:
    """Add ``record`` to the manifest, drop reports beyond ``keep`` per (framework, period),
    delete their files, rewrite ``index.html``. Returns the deleted files."""
    entries = [e for e in _load_manifest(out_dir)
               if e["stem"] != file_stem(record.framework, record.label)]
    entries.append({
        "stem": file_stem(record.framework, record.label), "framework": record.framework,
        "period": record.period, "label": record.label, "start": iso(record.start),
        "end": iso(record.end), "generated_at": iso(record.generated_at),
        "status": record.status, "score": record.score, "sha256": record.sha256,
        "files": [[f.format, f.path.name] for f in record.files],
        "sha256_by_file": {f.path.name: f.sha256 for f in record.files},
    })
    entries.sort(key=lambda e: (e["end"], e["start"], e["framework"], e["stem"]), reverse=True)
    kept: list[dict[str, Any]] = []
    removed: list[Path] = []
    per_kind: dict[tuple[str, str], int] = {}
    for entry in entries:
        key = (entry["framework"], entry["period"])
        per_kind[key] = per_kind.get(key, 0) + 1
        if per_kind[key] <= keep:
            kept.append(entry)
            continue
        for _, name in entry["files"]:
            path = out_dir / Path(name).name
            if path.exists():
                path.unlink()
                removed.append(path)
    write_atomic(out_dir / MANIFEST, orjson.dumps({"reports": kept},
                                                  option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    write_atomic(out_dir / "index.html", render_index(kept).encode("utf-8"))
    return removed


def report_document(record: ReportRecord) -> Document:
    doc_id = hashlib.sha256(record.id.encode()).hexdigest()[:32]
    source = {
        "@timestamp": iso(record.generated_at),
        "event": {"kind": "event", "dataset": "monitor.report", "action": "report-rendered"},
        "report": {
            "id": record.id, "framework": record.framework, "period": record.period,
            "label": record.label, "start": iso(record.start), "end": iso(record.end),
            "generated_at": iso(record.generated_at), "sha256": record.sha256,
            "score": record.score, "status": record.status, "counts": record.counts,
            "statuses": list(record.statuses),
            "files": {f.format: {"name": f.path.name, "sha256": f.sha256, "bytes": f.bytes}
                      for f in record.files},
        },
    }
    return Document(kind="reports", id=doc_id, source=source)


async def record_report(store: Store, record: ReportRecord, *,
                        writer: BulkWriter | None = None) -> None:
    """Store the report record (PCI DSS 10.4.1 evidence that the review ran), refreshed.
    ``writer``: the daemon's (its hooks and metrics), else a plain one."""
    await (writer or BulkWriter(store)).write([report_document(record)], label="reports",
                                              refresh=True)
