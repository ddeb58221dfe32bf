"""Every ``monitor …`` command quoted in the shipped alert annotations (the on-call runbook)
runs for real, with its exact flags, against Elasticsearch, and answers what it claims: a
runbook once sent people to ``--severity``, a flag that did not exist."""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import yaml

from monitor.findings import finding_doc, finding_id, write_findings
from monitor.model import Finding, Severity
from monitor.store import Store

ALERTS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
QUOTED = re.compile(r"`(monitor [^`]+)`")


def _quoted() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    found = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            for text in (rule.get("annotations") or {}).values():
                found += QUOTED.findall(text)
    return sorted(set(found))


def _finding(severity: Severity, ip: str) -> dict:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rule_id = f"c0c0c0c0-0000-4000-8000-00000000{len(severity.value):04d}"
    group = {"source.ip": ip}
    return finding_doc(Finding(
        id=finding_id(rule_id, group, start), rule_id=rule_id, rule_name=f"{severity} rule",
        rule_version=1, rule_type="match", severity=severity, risk_score=50,
        window_start=start, window_end=start + timedelta(hours=1), group=group, count=1,
        query={}))


async def test_every_runbook_command_runs_and_answers(store: Store, es_url: str,
                                                      tmp_path: Path) -> None:
    commands = _quoted()
    assert any("--severity critical" in c for c in commands), commands  # extraction works
    docs = {s: _finding(s, f"10.0.0.{i}") for i, s in enumerate(Severity)}
    await write_findings(store, list(docs.values()))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"elasticsearch": {"hosts": [es_url],
                                                        "index_prefix": store.names.prefix}}))
    for command in commands:
        argv = command.split()[1:]
        out = subprocess.run([sys.executable, "-m", "monitor.cli.main", "-c", str(config), *argv,
                              "--json"], capture_output=True, text=True, check=False, timeout=120)
        assert out.returncode == 0, (command, out.stderr[-2000:])
        rows = orjson.loads(out.stdout)
        if "--severity" in argv:
            wanted = argv[argv.index("--severity") + 1]
            assert [r["id"] for r in rows] == [docs[Severity(wanted)]["finding"]["id"]], command
        if "--status" in argv:
            assert rows and all(r["status"] == argv[argv.index("--status") + 1] for r in rows)
