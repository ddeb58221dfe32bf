"""`monitor rules ...` and `monitor findings ...` through the real entry point."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from monitor.cli.main import main
from monitor.store import Store

from .helpers import BASE_RULE, load, series

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
PORT_SCAN = "5b0e7c1a-3d5e-4f7a-9a41-0c2f6b7d8e01"


@pytest.fixture
def config(tmp_path: Path, dstore: Store) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"elasticsearch": {
        "hosts": list(dstore.settings.hosts), "index_prefix": dstore.names.prefix}}))
    return path


def test_validate_reports_every_issue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "validate"]) == 0
    bad = {**BASE_RULE, "type": "threshold", "query": "a:b", "severity": "huge",
           "threshold": {"count": 3, "window": "soon"}}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    capsys.readouterr()
    assert main(["rules", "validate", str(tmp_path), "--json"]) == 1
    issues = json.loads(capsys.readouterr().out)
    assert any("severity" in i for i in issues) and any("threshold.window" in i for i in issues)
    assert all(str(tmp_path / "bad.yaml") in i for i in issues)


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) >= 20 and {"id", "type", "severity", "name", "pci", "enabled"} <= set(rows[0])
    assert main(["rules", "list"]) == 0
    text = capsys.readouterr().out.splitlines()
    enabled = sum(r["enabled"] for r in rows)
    assert sum(line.split()[1] == "enabled" for line in text[:-1]) == enabled
    assert sum(line.split()[1] == "disabled" for line in text[:-1]) == len(rows) - enabled
    assert text[-1] == f"{len(rows)} rules, {enabled} enabled, {len(rows) - enabled} disabled"


async def test_run_dry_then_write_then_findings_lifecycle(config: Path, dstore: Store,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    await load(dstore, [(i, d) for k in range(30) for i, d in series(
        T0 + timedelta(seconds=k), 1, timedelta(seconds=1), observer__vendor="Checkpoint",
        event__category="network", source__ip="203.0.113.9", destination__port=1000 + k)])
    window = ["--from", "2026-03-02T09:55:00Z", "--to", "2026-03-02T10:10:00Z"]

    def cli(*argv: str) -> tuple[int, str]:
        code = main(["-c", str(config), *argv])
        return code, capsys.readouterr().out

    # the CLI runs its own event loop: call it from a worker thread
    code, out = await asyncio.to_thread(cli, "rules", "run", "--rule", PORT_SCAN, *window,
                                        "--dry-run", "--json")
    report = json.loads(out)
    assert code == 0 and report["findings"] == 1 and report["created"] == 0
    assert report["results"][0]["group"] == "source.ip=203.0.113.9"
    code, out = await asyncio.to_thread(cli, "rules", "run", "--rule", PORT_SCAN, *window, "--json")
    written = json.loads(out)
    assert code == 0 and written["created"] == 1
    # a backfill's JSON says what each finding rests on, not only its id
    (finding,) = written["results"]
    assert finding["first_seen"].startswith("2026-03-02T10:00:00")
    assert finding["last_seen"].startswith("2026-03-02T10:00:29")
    assert finding["count"] >= 25 and finding["rule_id"] == PORT_SCAN
    assert isinstance(finding["values"], dict)
    code, _ = await asyncio.to_thread(cli, "rules", "run", "--rule", PORT_SCAN, *window,
                                      "--dry-run", "--fail-on", "finding")
    assert code == 1  # opted in: findings are a bad verdict for a CI gate
    code, out = await asyncio.to_thread(cli, "findings", "list", "--limit", "5000")
    assert code == 2
    code, out = await asyncio.to_thread(cli, "findings", "list", "--json")
    (row,) = json.loads(out)
    assert row["status"] == "open" and row["group"] == "source.ip=203.0.113.9"
    code, _ = await asyncio.to_thread(cli, "findings", "ack", row["id"], "--by", "alice",
                                      "--why", "triaging")
    assert code == 0
    code, _ = await asyncio.to_thread(cli, "findings", "ack", row["id"], "--by", "alice",
                                      "--why", "again")
    assert code == 1  # acknowledged → acknowledged is not a transition
    code, _ = await asyncio.to_thread(cli, "findings", "close", row["id"], "--by", "bob",
                                      "--why", "authorised ASV scan")
    code, out = await asyncio.to_thread(cli, "findings", "show", row["id"], "--json")
    shown = json.loads(out)
    assert shown["finding"]["status"] == "closed"
    assert [h["by"] for h in shown["finding"]["history"]] == ["monitor", "alice", "bob"]
    code, _ = await asyncio.to_thread(cli, "rules", "run", "--rule", "nope", *window)
    assert code == 2



async def test_list_state_says_which_rules_are_learning(tmp_path: Path, config: Path,
                                                        dstore: Store,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """``rules list --state``: what the engine committed for each rule, learning included."""
    import asyncio
    import uuid

    from monitor.detect.engine import evaluate_due
    from monitor.detect.loader import load_rules
    from monitor.store import StateStore

    folder = tmp_path / "pack"
    folder.mkdir()
    specs = {
        "new-terms": {"type": "new_terms", "query": "event.action:login",
                      "new_terms": {"fields": ["user.name", "source.ip"], "history": "14d"}},
        "match": {"type": "match", "query": "event.action:login"},
        "idle": {"type": "match", "query": "event.action:never"},
    }
    for name, spec in specs.items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(
            {**BASE_RULE, "id": str(uuid.uuid4()), "name": f"test {name}", **spec}))
    by_name = {r.name: r for r in load_rules([folder])}
    learner, matcher, idle = (by_name[f"test {n}"] for n in specs)
    # a fresh install: a day of logins, then alice from a new address; no 14-day history
    await load(dstore, series(T0 - timedelta(hours=20), 20, timedelta(hours=1),
                              event__action="login", user__name="alice", source__ip="10.0.0.1"))
    await load(dstore, series(T0 - timedelta(minutes=5), 1, timedelta(minutes=1),
                              event__action="login", user__name="alice", source__ip="10.0.0.9"))
    await evaluate_due([learner, matcher], dstore, StateStore(dstore), T0)

    def cli(*argv: str) -> tuple[int, str]:
        code = main(["-c", str(config), *argv])
        return code, capsys.readouterr().out

    code, out = await asyncio.to_thread(cli, "rules", "list", str(folder), "--state", "--json")
    assert code == 0
    rows = {r["id"]: r for r in json.loads(out)}
    assert rows[learner.id]["state"]["learning"] is True
    assert rows[learner.id]["state"]["learning_until"].startswith("2026-03-15T")
    assert rows[matcher.id]["state"]["learning"] is False
    assert rows[matcher.id]["state"]["searched_to"]
    assert rows[idle.id]["state"] is None
    code, out = await asyncio.to_thread(cli, "rules", "list", str(folder), "--state")
    lines = out.splitlines()
    assert code == 0 and lines[-1] == "3 rules, 3 enabled, 0 disabled, 1 learning"
    assert "[learning: no findings before 2026-03-15T" in next(x for x in lines
                                                                if learner.id in x)
    assert "[never evaluated]" in next(x for x in lines if idle.id in x)
    assert "[searched to " in next(x for x in lines if matcher.id in x)
