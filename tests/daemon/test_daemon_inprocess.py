"""The composition root in-process: the real Check Point API adapter (against the respx fake
management server of the Check Point tests) next to a source whose login is refused. The good
source ingests, the broken one is counted as failing, neither stops the other, and a clean
shutdown logs the API session out."""
from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from monitor.daemon.app import Daemon
from monitor.settings import settings_from_dict


def _fake_mgmt_module() -> Any:
    """The Check Point tests' fake management server (respx side effect), loaded by path."""
    path = Path(__file__).resolve().parents[1] / "checkpoint" / "fake_mgmt.py"
    spec = importlib.util.spec_from_file_location("daemon_tests_fake_mgmt", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


_FAKE = _fake_mgmt_module()
BASE, FakeMgmt = _FAKE.BASE, _FAKE.FakeMgmt


def _value(daemon: Daemon, name: str, **labels: str) -> float:
    return daemon.registry.get_sample_value(name, labels) or 0.0


async def _until(predicate: Any, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.2)


async def _stop_and_clean(daemon: Daemon, es_url: str, prefix: str) -> int:
    """Shut the daemon down (its exit code) and delete the test's indices and templates."""
    code = await daemon.shutdown()
    async with httpx.AsyncClient(base_url=es_url) as client:
        await client.delete(f"/{prefix}-*", params={"expand_wildcards": "all"})
        await client.delete(f"/_index_template/{prefix}-*")
    return code


def _refuse_login(request: httpx.Request) -> httpx.Response:
    return httpx.Response(400, json={"code": "err_login_failed",
                                     "message": "Authentication to server failed."})


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_sources_run_side_by_side_and_a_refused_one_is_isolated(es_url: str) -> None:
    prefix = f"t-i{uuid.uuid4().hex[:8]}"
    fake = FakeMgmt()
    fake.add("logs", 120, start=datetime.now(UTC) - timedelta(minutes=20), step_s=5)
    settings = settings_from_dict({
        "elasticsearch": {"hosts": [es_url], "index_prefix": prefix},
        "sources": {"checkpoint_api": [
            {"name": "mgmt1", "url": BASE.removesuffix("/web_api"), "api_key": "k3y-good",
             "log_types": ["logs"], "schedule": {"interval_seconds": 3600}},
            {"name": "broken", "url": "https://broken.example.test", "api_key": "k3y-bad",
             "log_types": ["logs"], "schedule": {"interval_seconds": 3600}}]},
        "rules": {"dirs": []},
        "http": {"listen": "127.0.0.1:0"},
        "ha": {"lease_seconds": 10, "renew_seconds": 2, "instance_id": "inproc"},
        "daemon": {"stats_interval_seconds": 1},
    })
    daemon = Daemon(settings)
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()  # Elasticsearch and our endpoint
        mock.post(url__startswith=BASE).mock(side_effect=fake)
        mock.post(url__startswith="https://broken.example.test").mock(side_effect=_refuse_login)
        try:
            await daemon.startup()
            await _until(lambda: _value(daemon, "monitor_scheduler_job_runs_total",
                                        job_id="source:mgmt1", outcome="success") >= 1
                         and _value(daemon, "monitor_scheduler_jobs_failed_total",
                                    job_id="source:broken") >= 1)
            assert _value(daemon, "monitor_source_events_ingested_total", source="mgmt1") == 120
            assert _value(daemon, "monitor_source_up", source="mgmt1") == 1
            assert _value(daemon, "monitor_source_up", source="broken") == 0
            assert _value(daemon, "monitor_source_errors_total", source="broken") >= 1
            assert _value(daemon, "monitor_source_lag_seconds", source="mgmt1") < 600
            assert _value(daemon, "monitor_ha_active") == 1
            ok, details = await daemon.readiness()
            assert ok, details  # a failing pull source is reported, not a reason to be unready
            assert details["pull_sources"]["broken"]["healthy"] is False
        finally:
            code = await _stop_and_clean(daemon, es_url, prefix)
    assert code == 0
    assert [c for c, _ in fake.calls].count("logout") == 1  # the session was closed on stop


FLOOD_RULE = {
    "id": "f100df10-0000-4000-8000-00000000f100", "name": "Flood: every accepted source",
    "description": "Fires once per accepting source: a rule made to hit its max_findings cap.",
    "version": 1, "status": "test", "severity": "low", "risk_score": 10,
    "threat": [{"tactic": "TA0007"}], "pci_dss_v4_0_1": ["10.4.1"],
    "note": "## Triage\nA test rule: nothing to triage.", "type": "match", "query": "event.action:Accept",
    "group_by": ["source.ip"], "max_findings": 2,
    "schedule": {"interval": "2s", "lookback": "10m", "delay": "1s"},
}


async def test_a_rule_at_its_cap_counts_in_monitor_rule_truncated_total(
        es_url: str, tmp_path: Path) -> None:
    """The daemon wires the engine's truncation report to the flood metric (and alert)."""
    import yaml

    from monitor.simulate import SimConfig, generate

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "flood.yaml").write_text(yaml.safe_dump(FLOOD_RULE, sort_keys=False))
    # stamped from a few seconds ahead: the engine evaluates each window once (late data is
    # bounded by the rule's delay), so the events must be indexed before their windows close
    sample = tmp_path / "sample.log"
    sample.write_text("\n".join(line for _, line in generate(SimConfig(
        count=1200, seed=9, start=datetime.now(UTC) + timedelta(seconds=5),
        events_per_second=10))) + "\n")
    prefix = f"t-f{uuid.uuid4().hex[:8]}"
    settings = settings_from_dict({
        "elasticsearch": {"hosts": [es_url], "index_prefix": prefix},
        "sources": {"files": {"paths": [str(sample)], "schedule": {"interval_seconds": 1}}},
        "rules": {"dirs": [str(rules)], "schedule": {"interval_seconds": 2}},
        "http": {"listen": "127.0.0.1:0"},
        "ha": {"lease_seconds": 10, "renew_seconds": 2, "instance_id": "flood"},
        "daemon": {"stats_interval_seconds": 1},
    })
    daemon = Daemon(settings)
    try:
        await daemon.startup()
        await _until(lambda: _value(daemon, "monitor_rule_truncated_total",
                                    rule=FLOOD_RULE["id"]) >= 1)
        # the run that hit the cap is a successful run, not a failure
        assert _value(daemon, "monitor_scheduler_job_runs_total", job_id="rules",
                      outcome="success") >= 1
    finally:
        code = await _stop_and_clean(daemon, es_url, prefix)
    assert code == 0
