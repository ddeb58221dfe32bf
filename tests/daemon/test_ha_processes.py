"""Two ``monitor run`` against one Elasticsearch: one active, takeover after SIGKILL, no
duplicate finding."""
from __future__ import annotations

import signal
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from monitor.simulate.checkpoint import PortScan, SimConfig, generate

from .procs import MonitorProcess, base_config, free_port, wait_for
from .test_e2e_prometheus import critical_rule_pack


def _scan(port: int, attacker: str, seed: int) -> None:
    lines = [line for _, line in generate(SimConfig(
        count=20, seed=seed, start=datetime.now(UTC),
        scenarios=(PortScan(attacker=attacker, target="10.20.5.10", at=0, ports=40,
                            interval=0.02),)))]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall("".join(line + "\n" for line in lines).encode())


def _findings(es_url: str, prefix: str) -> tuple[int, dict[str, int]]:
    with httpx.Client(base_url=es_url, timeout=60) as client:
        client.post(f"/{prefix}-findings-*/_refresh",
                    params={"ignore_unavailable": "true", "allow_no_indices": "true"})
        response = client.post(
            f"/{prefix}-findings-*/_search",
            params={"ignore_unavailable": "true", "allow_no_indices": "true"},
            json={"size": 0, "track_total_hits": True,
                  "aggs": {"ids": {"terms": {"field": "finding.id", "size": 1000}},
                           "groups": {"terms": {"field": "source.ip", "size": 1000}}}})
        response.raise_for_status()
        body = response.json()
    ids = {b["key"]: b["doc_count"] for b in body["aggregations"]["ids"]["buckets"]}
    return body["hits"]["total"]["value"], ids


def _active(procs: list[MonitorProcess]) -> list[MonitorProcess]:
    return [p for p in procs if p.alive() and p.metric("monitor_ha_active") == 1]


def test_one_active_takeover_within_30s_and_no_duplicate_findings(
        tmp_path: Path, es_url: str, daemon_prefix: str) -> None:
    rules = critical_rule_pack(tmp_path / "rules")
    procs = []
    for name in ("alpha", "beta"):
        config = base_config(
            es_url, daemon_prefix,
            sources={"syslog": {"enabled": True, "udp": None,
                                "tcp": f"127.0.0.1:{free_port()}",
                                "flush_interval_seconds": 0.5}},
            rules={"dirs": [str(rules)], "schedule": {"interval_seconds": 2}})
        procs.append(MonitorProcess(tmp_path, name, config))
    ports = {p.name: int(p.config_path.read_text().split("tcp: 127.0.0.1:")[1].split()[0])
             for p in procs}
    try:
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.wait_ready()
        # exactly one active, and it stays that way
        wait_for(lambda: len(_active(procs)) == 1, 60, "one active instance")
        for _ in range(5):
            assert len(_active(procs)) == 1
            time.sleep(0.5)
        active = _active(procs)[0]
        standby = next(p for p in procs if p is not active)
        assert standby.metric("monitor_ha_role", role="standby") == 1
        assert standby.metric("monitor_scheduler_job_runs_total", job_id="rules",
                              outcome="success") == 0

        # receivers run on both: a scan sent to the standby's receiver is found by the active
        _scan(ports[standby.name], "203.0.113.10", seed=11)
        wait_for(lambda: _findings(es_url, daemon_prefix)[0] >= 1, 120,
                 "the first finding", interval=1, on_fail=active.tail)

        # the active instance dies without a chance to release its lease
        active.signal(signal.SIGKILL)
        killed = time.monotonic()
        active.wait(30)
        wait_for(lambda: standby.metric("monitor_ha_active") == 1, 30,
                 "the standby to take over within 30 s", interval=0.2, on_fail=standby.tail)
        takeover = time.monotonic() - killed
        print(f"takeover after SIGKILL: {takeover:.1f}s")
        assert takeover < 30

        # the survivor evaluates from the stored windows: the next scan is found once
        _scan(ports[standby.name], "203.0.113.20", seed=12)
        wait_for(lambda: _findings(es_url, daemon_prefix)[0] >= 2, 120,
                 "the second finding", interval=1, on_fail=standby.tail)
        time.sleep(4)  # a few more evaluation rounds on the survivor
        total, ids = _findings(es_url, daemon_prefix)
        assert total == len(ids), f"duplicate findings: {ids}"
        assert all(count == 1 for count in ids.values()), ids
    finally:
        for proc in procs:
            proc.stop()
