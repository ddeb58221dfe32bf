"""``monitor compliance …`` and ``monitor inventory load`` through the CLI entry point."""
from __future__ import annotations

import json
from pathlib import Path

from monitor.cli.main import main
from monitor.resources import rules_dir

EXAMPLE = rules_dir() / "inventory.example.yaml"


def _config(tmp_path: Path, es_url: str, prefix: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(f"elasticsearch:\n  hosts: [{es_url}]\n  index_prefix: {prefix}\n")
    return str(path)


def test_list(capsys) -> None:
    assert main(["compliance", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    modes = [c["mode"] for c in data["controls"]]
    assert modes.count("automated") >= 20 and "manual" in modes
    coverage = {r["id"]: r["coverage"] for r in data["requirements"]}
    assert coverage["1.4.4"] == "automated" and coverage["12.10.1"] == "manual"


def _cleanup(es_url: str, prefix: str) -> None:
    import asyncio

    from monitor.settings import ElasticsearchSettings
    from monitor.store import open_store
    from monitor.store.search import drop_prefix

    async def go() -> None:
        store = open_store(ElasticsearchSettings(hosts=[es_url]), prefix=prefix)
        try:
            await drop_prefix(store)
        finally:
            await store.close()

    asyncio.run(go())


def test_evaluate_with_no_data_never_passes(es_url, es_prefix, tmp_path, capsys) -> None:
    config = _config(tmp_path, es_url, es_prefix)
    try:
        _evaluate_empty(config, capsys)
    finally:
        _cleanup(es_url, es_prefix)


def _evaluate_empty(config: str, capsys) -> None:
    assert main(["-c", config, "es", "setup"]) == 0
    assert main(["-c", config, "inventory", "load", str(EXAMPLE)]) == 0
    capsys.readouterr()
    code = main(["-c", config, "compliance", "evaluate", "--from", "2026-11-24T00:00:00Z",
                 "--to", "2026-11-25T00:00:00Z", "--json"])
    data = json.loads(capsys.readouterr().out)
    statuses = {c["id"]: c["status"] for c in data["controls"]}
    assert "pass" not in statuses.values()
    assert statuses["CHK-14"] == "insufficient_data"
    assert statuses["CHK-12"] == "fail"  # no review record at all is a finding, not a gap
    assert code == 0  # the command worked; the verdict is in the output
    assert data["summary"]["score_percent"] == 0.0
    assert main(["-c", config, "compliance", "evaluate", "--from", "2026-11-24T00:00:00Z",
                 "--to", "2026-11-25T00:00:00Z", "--dry-run", "--fail-on", "fail"]) == 1
    assert main(["-c", config, "compliance", "evaluate", "--from", "2026-11-24T00:00:00Z",
                 "--to", "2026-11-25T00:00:00Z", "--dry-run", "--fail-on",
                 "insufficient_data"]) == 1
    capsys.readouterr()
    assert main(["-c", config, "compliance", "status", "--from", "2026-11-24T00:00:00Z",
                 "--to", "2026-11-25T00:00:00Z", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["status"] for r in rows} <= {"insufficient_data", "fail", "manual"}
    assert main(["-c", config, "compliance", "evaluate", "--from", "2026-11-25",
                 "--to", "2026-11-24"]) == 2


def test_fixture_runner_cli(es_url, tmp_path, capsys) -> None:
    config = _config(tmp_path, es_url, "t-cli")
    assert main(["-c", config, "compliance", "test", "--control", "CHK-16", "--json"]) == 0
    outcomes = json.loads(capsys.readouterr().out)
    assert len(outcomes) == 3 and all(o["ok"] for o in outcomes)
    assert main(["-c", config, "compliance", "test", "--control", "CHK-99"]) == 2
