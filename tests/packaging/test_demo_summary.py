"""The demo's closing summary attributes findings to the scenarios that caused them, and
counts everything else as raised on clean traffic (a false finding must not hide there)."""
from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _summary():
    spec = importlib.util.spec_from_file_location("demo_summary",
                                                  ROOT / "scripts" / "demo_summary.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _finding(fid: str, rule: str, first: str, last: str) -> dict:
    return {"id": fid, "rule": rule, "first_seen": first, "last_seen": last,
            "window": {"start": first, "end": last}}


def test_a_spike_whose_window_starts_before_the_burst_is_the_bursts_and_the_rest_is_clean():
    summary = _summary()
    scenarios = [{"name": "drop_flood", "at": "2026-12-02T11:00:00Z"},
                 {"name": "port_scan", "at": "2026-12-02T01:00:00Z"}]
    findings = [
        # a spike's evidence window holds the 5 minutes before the burst
        _finding("a", "Spike", "2026-12-02T10:55:00Z", "2026-12-02T11:05:00Z"),
        _finding("b", "Port scan", "2026-12-02T01:00:03Z", "2026-12-02T01:00:08Z"),
        # evidence that began long before the scenario is not the scenario's
        _finding("c", "Outside hours", "2026-12-02T09:00:00Z", "2026-12-02T11:02:00Z"),
        # nothing was injected at 15:00
        _finding("d", "Host sweep", "2026-12-02T15:00:00Z", "2026-12-02T15:01:00Z"),
    ]
    compliance = {"summary": {"by_status": {"pass": 1}, "score_percent": 100.0}}
    report = {"status": "pass", "files": {"html": "r.html"}}
    lines = summary.summarize(scenarios, findings, compliance, report, timedelta(minutes=10))
    text = "\n".join(lines)
    assert "✔ port_scan                Port scan" in text
    assert "✔ drop_flood               Spike" in text
    assert "findings on clean traffic: 2 (should be 0)" in text
    assert "1  Outside hours" in text and "1  Host sweep" in text
