"""Signals against a real ``monitor run``: SIGTERM loses nothing, SIGHUP keeps valid rules."""
from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.model import DeadLetter, Document
from monitor.simulate.checkpoint import SimConfig, generate
from monitor.sources.logfiles import IngestStats, normalize_lines

from .conftest import es_count
from .procs import ROOT, MonitorProcess, base_config, free_port, http_get, json_lines, wait_for


def _sample_file(path: Path, count: int) -> tuple[int, int]:
    """Write ``count`` simulated lines; return (distinct documents, distinct dead letters)."""
    start = datetime.now(UTC) - timedelta(hours=2)
    lines = [line for _, line in generate(SimConfig(count=count, seed=7, start=start,
                                                    events_per_second=50))]
    path.write_text("\n".join(lines) + "\n")
    docs, letters = set(), set()
    for item in normalize_lines((line.encode() for line in lines), "checkpoint:file", True,
                                IngestStats()):
        if isinstance(item, Document):
            docs.add(item.id)
        elif isinstance(item, DeadLetter):
            letters.add((item.raw, item.reason))
    return len(docs), len(letters)


def test_sigterm_during_ingestion_loses_nothing(tmp_path: Path, es_url: str,
                                                daemon_prefix: str) -> None:
    sample = tmp_path / "sample.log"
    expected_docs, _ = _sample_file(sample, 10_000)
    config = base_config(es_url, daemon_prefix,
                         sources={"files": {"paths": [str(sample)],
                                            "schedule": {"interval_seconds": 1}}},
                         daemon={"shutdown_timeout_seconds": 10})
    first = MonitorProcess(tmp_path, "first", config).start()
    try:
        first.wait_ready()
        # SIGTERM while the file is being ingested (some documents in, not all)
        wait_for(lambda: es_count(es_url, f"{daemon_prefix}-events-*") > 0, 120,
                 "ingestion to start", interval=0.1, on_fail=first.tail)
        first.signal(signal.SIGTERM)
        code = first.wait(60)
    finally:
        first.stop()
    records = json_lines(first.log())
    assert any(r.get("msg") == "shutting down" for r in records), first.tail()
    assert code == 0, first.tail()
    assert any(r.get("msg") == "stopped" and r.get("exit_code") == 0 for r in records)
    indexed_before = es_count(es_url, f"{daemon_prefix}-events-*")
    assert 0 < indexed_before <= expected_docs
    interrupted = indexed_before < expected_docs  # usually: the run was cancelled mid-file

    second = MonitorProcess(tmp_path, "second", config).start()
    try:
        second.wait_ready()
        wait_for(lambda: es_count(es_url, f"{daemon_prefix}-events-*") >= expected_docs, 180,
                 f"{expected_docs} events after restart", interval=1, on_fail=second.tail)
        wait_for(lambda: (second.metric("monitor_scheduler_job_runs_total",
                                        job_id="source:files", outcome="success") or 0) >= 2,
                 120, "a second complete pass", on_fail=second.tail)
    finally:
        second.stop()
    assert es_count(es_url, f"{daemon_prefix}-events-*") == expected_docs
    if interrupted:
        assert any(r.get("msg") == "cancelled job runs that outlived the shutdown bound"
                   and "source:files" in r.get("jobs", "").split(",") for r in records), first.tail()


def test_sigterm_while_the_receiver_holds_unflushed_records_loses_nothing(
        tmp_path: Path, es_url: str, daemon_prefix: str) -> None:
    """Records accepted by the Log Exporter receiver but not yet written when SIGTERM arrives
    are flushed (or spooled and replayed at the next start): exact count after restart."""
    port = free_port()
    config = base_config(es_url, daemon_prefix,
                         sources={"syslog": {"enabled": True, "udp": None,
                                             "tcp": f"127.0.0.1:{port}",
                                             "flush_interval_seconds": 5}})
    start = datetime.now(UTC) - timedelta(minutes=30)
    lines = [line for _, line in generate(SimConfig(count=8_000, seed=21, start=start,
                                                    events_per_second=20))]
    expected = len({item.id for item in normalize_lines(
        (line.encode() for line in lines), "checkpoint:syslog", True, IngestStats())
        if isinstance(item, Document)})
    first = MonitorProcess(tmp_path, "rx1", config).start()
    try:
        first.wait_ready()
        # a reload keeps the listening receiver (and its spool): it still accepts afterwards
        first.signal(signal.SIGHUP)
        wait_for(lambda: first.metric("monitor_config_reloads_total", outcome="success") == 1,
                 60, "the reload", on_fail=first.tail)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall("".join(line + "\n" for line in lines).encode())

        def received() -> int:
            _, body = http_get(f"{first.url}/readyz")
            return json.loads(body)["services"]["syslog"]["received"]

        wait_for(lambda: received() >= len(lines), 120, "the receiver to accept every line",
                 interval=0.1, on_fail=first.tail)
        before = es_count(es_url, f"{daemon_prefix}-events-*")
        first.signal(signal.SIGTERM)
        assert first.wait(60) == 0, first.tail()
    finally:
        first.stop()
    print(f"indexed when SIGTERM arrived: {before} of {expected}")
    second = MonitorProcess(tmp_path, "rx1", config).start()  # same folder: same spool
    try:
        second.wait_ready()
        wait_for(lambda: es_count(es_url, f"{daemon_prefix}-events-*") >= expected, 120,
                 f"{expected} events", interval=1, on_fail=second.tail)
    finally:
        second.stop()
    assert es_count(es_url, f"{daemon_prefix}-events-*") == expected


def _copy_rule(rules_dir: Path) -> Path:
    rules_dir.mkdir()
    source = ROOT / "rules" / "threat" / "cp_port_scan.yaml"
    target = rules_dir / source.name
    shutil.copy(source, target)
    fixtures = source.with_name("cp_port_scan.fixtures.yaml")
    if fixtures.exists():
        shutil.copy(fixtures, rules_dir / fixtures.name)
    return target


def test_sighup_with_a_broken_rule_keeps_the_old_rules_and_says_why(
        tmp_path: Path, es_url: str, daemon_prefix: str) -> None:
    rule = _copy_rule(tmp_path / "rules")
    config = base_config(es_url, daemon_prefix,
                         rules={"dirs": [str(rule.parent)], "schedule": {"interval_seconds": 1}})
    proc = MonitorProcess(tmp_path, "hup", config).start()
    try:
        proc.wait_ready()
        assert proc.metric("monitor_rules_loaded", kind="threat") == 1
        good = rule.read_text()
        rule.write_text(good.replace("severity: medium", "severity: catastrophic"))
        runs_before = proc.metric("monitor_scheduler_job_runs_total", job_id="rules",
                                  outcome="success") or 0
        proc.signal(signal.SIGHUP)
        wait_for(lambda: proc.metric("monitor_config_reloads_total", outcome="error") == 1,
                 60, "the reload to be refused", on_fail=proc.tail)
        assert proc.metric("monitor_config_last_reload_successful") == 0
        assert proc.metric("monitor_rules_loaded", kind="threat") == 1
        refused = [r for r in json_lines(proc.log()) if r.get("msg", "").startswith(
            "reload refused")]
        assert refused, proc.tail()
        assert "cp_port_scan.yaml" in refused[0]["error"] and "severity" in refused[0]["error"]
        # the old rules keep running
        wait_for(lambda: (proc.metric("monitor_scheduler_job_runs_total", job_id="rules",
                                      outcome="success") or 0) > runs_before + 1, 60,
                 "rules to keep running", on_fail=proc.tail)
        ready = proc.metrics()
        assert ready  # endpoint still serving
        # fixed file + `monitor reload` (pidfile) → applied
        rule.write_text(good)
        out = subprocess.run([sys.executable, "-m", "monitor.cli.main", "-c",
                              str(proc.config_path), "reload"], capture_output=True, text=True,
                             check=False, timeout=60, cwd=ROOT)
        assert out.returncode == 0, out.stderr
        wait_for(lambda: proc.metric("monitor_config_reloads_total", outcome="success") == 1,
                 60, "the fixed reload to be applied", on_fail=proc.tail)
        assert proc.metric("monitor_config_last_reload_successful") == 1
        # the same through the HTTP endpoint
        out = subprocess.run([sys.executable, "-m", "monitor.cli.main", "reload", "--http",
                              proc.url], capture_output=True, text=True, check=False, timeout=60, cwd=ROOT)
        assert out.returncode == 0, out.stderr
        wait_for(lambda: proc.metric("monitor_config_reloads_total", outcome="success") == 2,
                 60, "the HTTP reload to be applied", on_fail=proc.tail)
        proc.signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        proc.stop()
