"""Relative paths of a settings file are read from the file's folder, by the daemon and the CLI
alike, whatever the working directory (the rules CLI used to read them from the working
directory)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from monitor.cli.main import main
from monitor.settings import load_settings, settings_from_dict

RULE = {
    "id": "00000000-0000-4000-8000-0000000000a1", "name": "paths test rule",
    "description": "a rule made by a test", "version": 1, "status": "test",
    "severity": "medium", "risk_score": 40, "threat": [{"tactic": "TA0006"}],
    "pci_dss_v4_0_1": ["8.3.4"], "note": "## Triage\nlook at it, then decide",
    "type": "match", "query": "event.action:drop",
}


def _config(tmp_path: Path) -> Path:
    folder = tmp_path / "etc"
    (folder / "my-rules").mkdir(parents=True)
    (folder / "my-rules" / "one.yaml").write_text(yaml.safe_dump(RULE))
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump({
        "rules": {"dirs": ["my-rules"], "inventory_file": "inventory.yaml"},
        "sources": {"files": {"paths": ["logs/*.log", "/var/log/cp/*.log"]}},
        "reports": {"dir": "out"}}))
    return config


def test_every_relative_path_is_resolved_once_at_load(tmp_path: Path) -> None:
    settings = load_settings(_config(tmp_path))
    folder = (tmp_path / "etc").resolve()
    assert settings.rules.dirs == [folder / "my-rules"]
    assert settings.rules.inventory_file == folder / "inventory.yaml"
    assert settings.sources.files.paths == [str(folder / "logs/*.log"), "/var/log/cp/*.log"]
    assert settings.reports.dir == folder / "out"
    assert settings.sources.syslog.spool.dir == folder / "var/spool"  # defaults too
    assert settings.reports.chromium.is_absolute()


def test_settings_without_a_file_keep_relative_paths() -> None:
    assert settings_from_dict({"rules": {"dirs": ["r"]}}).rules.dirs == [Path("r")]


def test_rules_cli_reads_the_configured_folder_from_anywhere(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["-c", str(config), "rules", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["id"] for row in rows] == [RULE["id"]]


def test_secret_files_are_read_from_the_settings_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "es-password").write_text("s3cret\n")
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump({"elasticsearch": {
        "hosts": ["https://es.example:9200"], "username": "monitor",
        "password_file": "es-password"}}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    password = load_settings(config).elasticsearch.password
    assert password is not None and password.get_secret_value() == "s3cret"
