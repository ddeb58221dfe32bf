"""`monitor rules test`: every pack rule's fixtures, run against the real Elasticsearch."""
from __future__ import annotations

from monitor.detect.fixtures import run_fixtures
from monitor.detect.loader import load_rules
from monitor.store import Store


async def test_every_rule_passes_its_fixtures(dstore: Store) -> None:
    pack = load_rules()
    results = await run_fixtures(list(pack.rules), dstore)
    failures = [f"{r.rule_name} :: {r.case}: expected {r.expected} got {r.got} {r.error or ''}"
                for r in results if not r.ok]
    assert not failures, "\n".join(failures)
    assert {r.rule_id for r in results} == set(pack.by_id)
    # every rule has at least one case with findings and one without
    for rule_id in pack.by_id:
        mine = [r for r in results if r.rule_id == rule_id]
        assert any(r.expected for r in mine) and any(not r.expected for r in mine), rule_id


async def test_fixture_runner_reports_a_wrong_expectation(dstore: Store, tmp_path) -> None:
    import shutil
    src = load_rules().by_id["5b0e7c1a-3d5e-4f7a-9a41-0c2f6b7d8e01"].path
    shutil.copy(src, tmp_path / src.name)
    text = src.with_name("cp_port_scan.fixtures.yaml").read_text()
    (tmp_path / "cp_port_scan.fixtures.yaml").write_text(
        text.replace("count: 25", "count: 25").replace("203.0.113.9}\n", "203.0.113.99}\n", 1)
        .replace("- group: {source.ip: 203.0.113.9}", "- group: {source.ip: 203.0.113.99}"))
    results = await run_fixtures(list(load_rules([tmp_path]).rules), dstore)
    bad = [r for r in results if not r.ok]
    assert len(bad) == 1 and bad[0].got == {"source.ip=203.0.113.9": 1}
