"""The wheel carries rules/ and reports/, and an installed copy finds them (not only editable)."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_contains_bundled_data_and_resolves_it(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                          "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next(tmp_path.glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    rule_files = [n for n in names if n.startswith("monitor/_bundled/rules/")]
    report_files = [n for n in names if n.startswith("monitor/_bundled/reports/")]
    assert rule_files and report_files
    # install into an isolated target and resolve the folders from there
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    probe = ("import monitor.resources as r, sys; "
             "print(r.rules_dir()); print(r.reports_dir())")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
                            cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stderr
    rules, reports = result.stdout.split()
    assert rules == str(target / "monitor" / "_bundled" / "rules")
    assert reports == str(target / "monitor" / "_bundled" / "reports")
