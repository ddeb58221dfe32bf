"""Every command pays Python's start-up before it does anything: ``monitor --help`` and the
parser must not import the heavy stack (Elasticsearch client, pydantic settings, Jinja2, httpx,
the store). The module check is exact; the time budget is generous so a loaded machine does
not make it flake (measured ~0.2 s for ``monitor --help`` on an idle 2-core machine)."""
from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("elasticsearch", "pydantic", "jinja2", "httpx", "apscheduler", "prometheus_client",
         "monitor.store", "monitor.settings", "monitor.detect", "monitor.compliance",
         "monitor.daemon", "monitor.sources")


def test_help_imports_nothing_heavy() -> None:
    probe = ("import json, sys, contextlib, io\n"
             "from monitor.cli.main import main\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             "    try:\n"
             "        main(['--help'])\n"
             "    except SystemExit:\n"
             "        pass\n"
             "print(json.dumps(sorted(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == [], f"--help imported {heavy}"


def test_parser_import_time_budget() -> None:
    out = subprocess.run([sys.executable, "-X", "importtime", "-c",
                          "import monitor.cli.main as m; m.build_parser()"],
                         capture_output=True, text=True, check=True)
    rows = [line.split("|") for line in out.stderr.splitlines() if line.startswith("import time:")]
    total_us = sum(int(r[0].split(":")[1]) for r in rows[1:] if r[0].split(":")[1].strip().isdigit())
    assert total_us < 1_500_000, f"importing the CLI took {total_us / 1e6:.2f} s"
