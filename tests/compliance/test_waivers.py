"""One exceptions file, one schema: finding exceptions and control waivers, read the same way
by the rule engine, the compliance evaluator, the report and ``config check``."""
from __future__ import annotations

import json
import textwrap
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.cli.main import main
from monitor.compliance import load_controls, load_sources
from monitor.compliance.fixtures import FIXTURE_START, run_fixture
from monitor.errors import RuleValidationError
from monitor.findings.exceptions import load_exceptions, match_exception
from monitor.inventory import load_inventory
from monitor.reports.inputs import load_waivers
from monitor.resources import rules_dir
from monitor.settings import ElasticsearchSettings
from monitor.store import open_store
from monitor.store.search import drop_prefix
from monitor.store.setup import install_templates

FILE = """\
exceptions:
  - id: EXC-2026-001
    rules: [R-SCAN]
    match: {source.ip: 10.20.0.5}
    justification: Quarterly ASV scan from the approved scanner
    approver: jane.doe (CISO)
    expires: 2026-12-31
  - id: W-2026-004
    control: CHK-31
    justification: guest Wi-Fi rebuild, compensating ACL reviewed weekly
    approver: ciso
    expires: {expires}
"""


def _write(tmp_path: Path, expires: str = "2026-12-31") -> Path:
    path = tmp_path / "exceptions.yaml"
    path.write_text(FILE.replace("{expires}", expires))
    return path


def test_engine_report_and_config_check_read_one_schema(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path)
    entries = load_exceptions(path)  # the rule engine's reader: a control waiver is no error
    assert [e.kind for e in entries] == ["finding", "control"]
    now = datetime(2026, 6, 1, tzinfo=UTC)
    assert match_exception(entries, "R-SCAN", {"source.ip": "10.20.0.5"}, now).id == "EXC-2026-001"
    assert match_exception(entries, "CHK-31", {}, now) is None  # a waiver excepts no finding
    waivers, problems = load_waivers(path)
    assert problems == [] and {w.id: w.kind for w in waivers} == {
        "EXC-2026-001": "finding", "W-2026-004": "control"}
    config = tmp_path / "monitor.yaml"
    config.write_text(f"rules:\n  exceptions_file: {path}\n")
    assert main(["-c", str(config), "config", "check", "--json"]) == 0
    capsys.readouterr()
    # a waiver without justification, approver or expiry is refused everywhere
    path.write_text(textwrap.dedent("""\
        exceptions:
          - id: W-9
            control: CHK-05
        """))
    with pytest.raises(RuleValidationError) as err:
        load_exceptions(path)
    text = str(err.value)
    assert "justification" in text and "approver" in text and "expires" in text
    waivers, problems = load_waivers(path)
    assert waivers == () and problems
    assert main(["-c", str(config), "config", "check", "--json"]) != 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and any("approver" in i["problem"] for i in report["issues"])
    path.write_text(FILE.replace("{expires}", "2026-12-31").replace(
        "    control: CHK-31\n", "    control: CHK-31\n    rules: [R-X]\n"))
    with pytest.raises(RuleValidationError, match="not both"):
        load_exceptions(path)


async def test_compliance_waives_a_failure_until_the_waiver_expires(es_url: str,
                                                                    tmp_path: Path) -> None:
    sources = load_sources()
    control = next(c for c in load_controls(sources=sources) if c.id == "CHK-31")
    failing = next(f for f in control.fixtures if f.expect == "fail")
    inventory = load_inventory(rules_dir() / "inventory.example.yaml")
    store = open_store(ElasticsearchSettings(hosts=[es_url]), prefix=f"t-wv-{uuid.uuid4().hex[:8]}")
    await install_templates(store)
    try:
        active = load_exceptions(_write(tmp_path))
        waived = await run_fixture(store, control, failing, sources, inventory, active)
        assert waived.got == "waived" and "W-2026-004" in waived.reason
        expired = load_exceptions(_write(tmp_path, FIXTURE_START.date().isoformat()[:8] + "01"))
        again = await run_fixture(store, control, failing, sources, inventory, expired)
        assert again.got == "fail"  # the expired waiver no longer hides the failure
        none = await run_fixture(store, control, failing, sources, inventory, [])
        assert none.got == "fail"
    finally:
        await drop_prefix(store)
        await store.close()
