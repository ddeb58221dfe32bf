"""End to end: files written atomically and named by framework and period, the folder's
manifest and index.html, retention, the record with SHA-256 in Elasticsearch, the CLI, PDF."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.reports.job import render_report
from monitor.reports.publish import write_report_files
from monitor.settings import settings_from_dict
from monitor.store import Store

from . import fixtures

ROOT = Path(__file__).resolve().parents[2]


def _settings(store: Store, out: Path, keep: int = 400):
    return settings_from_dict({
        "elasticsearch": {"hosts": store.settings.hosts, "index_prefix": store.names.prefix},
        "reports": {"dir": str(out), "keep": keep, "formats": ["html", "json"]},
    })


async def test_render_report_writes_indexes_records_and_prunes(store: Store, tmp_path: Path) -> None:
    await fixtures.seed(store)
    out = tmp_path / "reports"
    settings = _settings(store, out, keep=1)
    first = await render_report(settings, store, "daily", fixtures.NOW - timedelta(days=1))
    second = await render_report(settings, store, "daily", fixtures.NOW)
    assert second.label == "daily_2026-11-24" and first.label == "daily_2026-11-23"
    names = sorted(p.name for p in out.iterdir())
    # keep=1: the older daily report's files are gone; no temporary file is left behind
    assert names == ["index.html", "pci-dss-4.0.1_daily_2026-11-24.html",
                     "pci-dss-4.0.1_daily_2026-11-24.json", "reports.json"]
    html = (out / "pci-dss-4.0.1_daily_2026-11-24.html").read_bytes()
    assert second.sha256 == hashlib.sha256(html).hexdigest()
    manifest = json.loads((out / "reports.json").read_text())
    assert [e["label"] for e in manifest["reports"]] == ["daily_2026-11-24"]
    index = (out / "index.html").read_text()
    assert 'href="pci-dss-4.0.1_daily_2026-11-24.html"' in index
    assert "daily_2026-11-23" not in index and "Content-Security-Policy" in index
    answer = await store.es.search(index=store.names.reports, query={"term": {
        "report.label": "daily_2026-11-24"}}, size=10)
    docs = [h["_source"]["report"] for h in answer["hits"]["hits"]]
    assert len(docs) == 1 and docs[0]["sha256"] == second.sha256
    assert docs[0]["files"]["json"]["sha256"] == hashlib.sha256(
        (out / "pci-dss-4.0.1_daily_2026-11-24.json").read_bytes()).hexdigest()
    # the second report sees the first as "previous" in its trend
    twin = json.loads((out / "pci-dss-4.0.1_daily_2026-11-24.json").read_text())["report"]
    assert twin["summary"]["previous"]["label"] == "daily_2026-11-23"


def test_cli_renders_a_custom_period(store: Store, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"elasticsearch:\n  hosts: [{store.settings.hosts[0]}]\n"
                      f"  index_prefix: {store.names.prefix}\n")
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "monitor.cli.main", "-c", str(config), "report",
         "--from", "2026-11-24T00:00:00Z", "--to", "2026-11-25T00:00:00Z", "--out", str(out),
         "--format", "html,json", "--json"],
        check=False, capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["label"] == "custom_20261124T0000Z_20261125T0000Z"
    assert Path(result["files"]["html"]).exists() and Path(result["files"]["json"]).exists()
    assert result["status"] in ("manual", "insufficient_data")  # empty store: nothing passes
    bad = subprocess.run([sys.executable, "-m", "monitor.cli.main", "-c", str(config), "report",
                          "--from", "2026-11-24", "--out", str(out)],
                         check=False, capture_output=True, text=True, cwd=ROOT, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert bad.returncode == 2 and "--from and --to" in bad.stderr


@pytest.mark.slow
async def test_pdf_through_headless_chromium(report_data, tmp_path: Path) -> None:
    record = await write_report_files(report_data, tmp_path, ["pdf"])
    pdf = tmp_path / "pci-dss-4.0.1_daily_2026-11-24.pdf"
    assert [f.format for f in record.files] == ["pdf"]
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 20_000
    assert not (tmp_path / "pci-dss-4.0.1_daily_2026-11-24.html").exists()
    assert [p.name for p in tmp_path.iterdir()] == [pdf.name]


async def test_daemon_entry_point_with_reports_settings_only(store: Store, tmp_path: Path) -> None:
    from monitor.reports.scheduled import render_scheduled
    from monitor.settings import ReportKind, ReportsSettings

    record = await render_scheduled(store, ReportKind(period="weekly"),
                                    ReportsSettings(formats=["html"]), tmp_path, fixtures.NOW)
    assert record.path == tmp_path / "pci-dss-4.0.1_weekly_2026-W47.html"
    assert record.path.exists() and record.period == "weekly"
    # the bundled catalogue is used: every requirement in scope is listed
    html = record.path.read_text()
    assert 'id="req-1.2.2"' in html and 'id="req-12.10.1"' in html


def test_atomic_write_keeps_the_old_file_when_the_rename_fails(tmp_path: Path, monkeypatch) -> None:
    from monitor.reports import render

    target = tmp_path / "r.html"
    target.write_bytes(b"old")

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(render.os, "replace", boom)
    with pytest.raises(OSError):
        render.write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]
