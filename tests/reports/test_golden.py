"""Golden files: the fixed data set renders to byte-identical HTML and JSON.

Regenerate after an intended change to the templates, CSS, script or data layer with::

    MONITOR_UPDATE_GOLDEN=1 MONITOR_TEST_ES_URL=http://127.0.0.1:9200 \
        python -m pytest tests/reports/test_golden.py -q

then review ``git diff tests/reports/golden/`` like any other change.
"""
from __future__ import annotations

import os
from pathlib import Path

from monitor.reports.gather import gather_report
from monitor.reports.render import render_html, render_json

from . import fixtures

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("MONITOR_UPDATE_GOLDEN") == "1"


def _check(name: str, payload: bytes) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_bytes(payload)
    assert path.exists(), f"{path} missing: run with MONITOR_UPDATE_GOLDEN=1 to create it"
    expected = path.read_bytes()
    if payload != expected:
        for number, (got, want) in enumerate(zip(payload.splitlines(), expected.splitlines(),
                                                 strict=False), 1):
            if got != want:
                raise AssertionError(f"{name} differs from the golden file at line {number}:\n"
                                     f"  got:  {got[:300]!r}\n  want: {want[:300]!r}\n"
                                     "regenerate with MONITOR_UPDATE_GOLDEN=1 if intended")
        raise AssertionError(f"{name}: length differs ({len(payload)} vs {len(expected)})")


async def test_html_and_json_match_golden_files(report_data) -> None:
    _check("daily.json", render_json(report_data))
    _check("daily.html", render_html(report_data, json_name="daily.json").encode())


async def test_same_data_gives_same_bytes_twice(seeded, report_data) -> None:
    again = await gather_report(seeded, fixtures.PERIOD, fixtures.inputs(), fixtures.NOW)
    assert again == report_data
    assert render_html(again) == render_html(report_data)
    assert render_json(again) == render_json(report_data)
