"""CLI: parse (no ES), ingest (gzip, stdin, summary, idempotent), simulate (deterministic)."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.cli.main import main
from monitor.model import RawRecord
from monitor.normalize import normalize_checkpoint
from monitor.simulate import SimConfig, generate, scenario_from_spec
from monitor.simulate.checkpoint import BruteForce, OutOfBandChange, PortScan

ROOT = Path(__file__).resolve().parents[2]


def test_parse_prints_ndjson(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             shared_dir: Path) -> None:
    source = shared_dir / "corpus/checkpoint/elastic-integrations/test-checkpoint-authentication.log"
    packed = tmp_path / "auth.log.gz"
    packed.write_bytes(gzip.compress(source.read_bytes() + b"not a check point line\n"))
    assert main(["parse", str(packed)]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(out) == 13
    assert out[0]["event"]["action"] == "logged-in" and out[0]["_id"]
    assert out[-1]["deadletter"]["reason"].startswith("no Check Point fields")


def test_parse_fails_when_nothing_parses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "not-checkpoint.log"
    garbage.write_bytes(b"hello world\n\x00\xff binary\n")
    assert main(["parse", str(garbage)]) == 1  # every line a dead letter: wrong input
    captured = capsys.readouterr()
    assert captured.out.count("deadletter") == 2 and "2 of 2 line(s)" in captured.err


def test_simulate_is_deterministic_and_scenarios_are_explicit(tmp_path: Path) -> None:
    args = ["simulate", "checkpoint", "--count", "300", "--seed", "5",
            "--start", "2026-02-01T00:00:00Z", "--scenario", "port_scan:ports=20,at=3",
            "--scenario", "brute_force:failures=4,at=5,attacker=192.0.2.9"]
    assert main([*args, "--out", str(tmp_path / "a.log")]) == 0
    assert main([*args, "--out", str(tmp_path / "b.log")]) == 0
    a = (tmp_path / "a.log").read_bytes()
    assert a == (tmp_path / "b.log").read_bytes()
    lines = a.decode().splitlines()
    assert len(lines) == 300 + 20 + 5
    docs = [normalize_checkpoint(RawRecord("s", line.encode(), __import__("datetime")
                                           .datetime(2026, 2, 1)))
            for line in lines]
    failed = [d for d in docs if d.source["event"].get("action") == "logon-failed"]
    assert len(failed) == 4 and {d.source["source"]["ip"] for d in failed} == {"192.0.2.9"}
    stamps = [d.source["@timestamp"] for d in docs]
    assert stamps == sorted(stamps)
    assert main(["simulate", "checkpoint", "--scenario", "nope"]) == 2


def test_scenarios_content() -> None:
    assert scenario_from_spec("port_scan:attacker=1.2.3.4,ports=3") == PortScan(
        attacker="1.2.3.4", ports=3)
    with pytest.raises(ValueError, match="unknown parameter"):
        scenario_from_spec("port_scan:bogus=1")
    lines = [line for _, line in generate(SimConfig(count=0, scenarios=(
        OutOfBandChange(at=0), BruteForce(at=100, failures=2), PortScan(at=200, ports=5))))]
    assert "Changed from 'Drop' to 'Accept'" in lines[0] and 'operation:"Publish"' in lines[1]
    assert 'operation:"Install Policy"' in lines[2]
    assert sum('audit_status:"Failure"' in line for line in lines) == 2
    assert sum('rule_action:"Drop"' in line for line in lines) == 5


def test_ingest_checkpoint_stdin_and_files(tmp_path: Path, es_url: str, es_prefix: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"elasticsearch:\n  hosts: ['{es_url}']\n  index_prefix: {es_prefix}\n")
    sample = "\n".join(line for _, line in generate(SimConfig(count=500, seed=2))) + "\n"
    packed = tmp_path / "sample.log.gz"
    packed.write_bytes(gzip.compress(sample.encode()))

    def run(*args: str, stdin: str | None = None) -> dict[str, Any]:
        done = subprocess.run([sys.executable, "-m", "monitor.cli.main", "-c", str(config),
                               "ingest", "checkpoint", *args, "--json", "--refresh"],
                              input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=120,
                              check=False)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    try:
        first = run(str(packed))
        assert first["read"] == 500 and first["indexed"] == 500
        again = run("-", stdin=sample + "garbage line\n")  # same events from stdin
        assert again["read"] == 501 and again["duplicates"] == 500
        assert again["dead_lettered"] == 1 and again["indexed"] == 0
    finally:
        subprocess.run(["curl", "-s", "-XDELETE", f"{es_url}/{es_prefix}-*"], check=False,
                       capture_output=True)
