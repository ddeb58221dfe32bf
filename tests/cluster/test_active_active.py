"""Active-active ingest, single-leader evaluation, on loopback against one Elasticsearch.

Two ``monitor run`` instances each receive half of a 4,000 events/s Log Exporter stream; the
lease holder is SIGKILLed mid-way. Its sender fails over to the survivor (as a load balancer
would) and resends the batch whose delivery was in doubt. Every line that reached a live
instance's receiver must be indexed exactly once, the survivor must hold the lease within
30 s, and no finding may be written twice. Lines the killed instance had received but not yet
written die with it (its queue is memory; SIGKILL leaves no time to spool): their number is
printed, not asserted.
"""
from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import httpx

from monitor.simulate.checkpoint import PortScan
from tests.daemon.procs import MonitorProcess, base_config, free_port, wait_for
from tests.daemon.test_e2e_prometheus import critical_rule_pack

from .traffic import Sender, lines_for

_LOGUID = re.compile(r'loguid:"([^"]*)"')


def _count(es_url: str, index: str, query: dict | None = None) -> int:
    with httpx.Client(base_url=es_url, timeout=120) as client:
        client.post(f"/{index}/_refresh", params={"ignore_unavailable": "true",
                                                  "allow_no_indices": "true"})
        response = client.post(f"/{index}/_count", params={"ignore_unavailable": "true",
                                                           "allow_no_indices": "true"},
                               json={"query": query or {"match_all": {}}})
        response.raise_for_status()
        return int(response.json()["count"])


def _repeated(es_url: str, index: str, field: str) -> list[str]:
    with httpx.Client(base_url=es_url, timeout=120) as client:
        body = client.post(f"/{index}/_search", params={"ignore_unavailable": "true",
                                                        "allow_no_indices": "true"},
                           json={"size": 0, "aggs": {"ids": {"terms": {
                               "field": field, "min_doc_count": 2, "size": 100}}}}).json()
    return [b["key"] for b in body.get("aggregations", {}).get("ids", {}).get("buckets", [])]


def _origin(origin: str) -> dict:
    return {"term": {"observer.name": origin}}


def test_two_receivers_one_killed_every_received_line_once_one_leader(
        tmp_path: Path, es_url: str, es_prefix: str) -> None:
    daemon_prefix = es_prefix
    rules = critical_rule_pack(tmp_path / "rules")
    procs, ports = [], {}
    for name in ("alpha", "beta"):
        ports[name] = free_port()
        procs.append(MonitorProcess(tmp_path, name, base_config(
            es_url, daemon_prefix,
            sources={"syslog": {"enabled": True, "udp": None, "tcp": f"127.0.0.1:{ports[name]}",
                                "flush_interval_seconds": 0.5,
                                "spool": {"dir": str(tmp_path / name / "spool")}}},
            rules={"dirs": [str(rules)], "schedule": {"interval_seconds": 2}})))
    events, findings = f"{daemon_prefix}-events-*", f"{daemon_prefix}-findings-*"
    try:
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.wait_ready(120)
        active = wait_for(lambda: [p for p in procs if p.metric("monitor_ha_active") == 1],
                          60, "one active instance")[0]
        survivor = next(p for p in procs if p is not active)
        # half the stream to each; the active one's sender fails over to the survivor
        to_active = Sender([ports[active.name], ports[survivor.name]], 2000, seed=1,
                           origin="10.99.1.1", failover_origin="10.99.1.3")
        to_survivor = Sender([ports[survivor.name]], 2000, seed=2, origin="10.99.1.2")
        to_active.start()
        to_survivor.start()
        time.sleep(4)
        # a scan the leader evaluates before it dies (or the survivor from the stored window)
        to_survivor.inject(lines_for(11, 0, "x", 100, scenarios=(_scan("203.0.113.41"),)))
        time.sleep(8)
        active.signal(signal.SIGKILL)
        killed = time.monotonic()
        active.wait(30)
        wait_for(lambda: survivor.metric("monitor_ha_active") == 1, 30,
                 "the survivor to take the lease within 30 s", interval=0.2,
                 on_fail=survivor.tail)
        takeover = time.monotonic() - killed
        to_survivor.inject(lines_for(12, 0, "x", 100, scenarios=(_scan("203.0.113.42"),)))
        time.sleep(10)
        to_active.stop()
        to_survivor.stop()
        assert to_active.failovers == 1, "the killed instance's sender never failed over"
        reached_live = to_survivor.total + to_active.sent.get("10.99.1.3", 0)
        expected = {"10.99.1.2": to_survivor.total, "10.99.1.3": to_active.sent["10.99.1.3"]}
        wait_for(lambda: all(_count(es_url, events, _origin(o)) >= n for o, n in expected.items()),
                 240, f"{reached_live} lines that reached the survivor indexed", interval=2,
                 on_fail=survivor.tail)
        resent = [m.group(1) for line in to_active.resent if (m := _LOGUID.search(line))]
        wait_for(lambda: len(_repeated(es_url, findings, "finding.id")) == 0 and _count(
            es_url, findings, {"terms": {"source.ip": ["203.0.113.41", "203.0.113.42"]}}) >= 2,
            120, "both scans found", interval=2, on_fail=survivor.tail)
        time.sleep(6)  # more evaluation rounds on the survivor: a duplicate would show now
        got = {o: _count(es_url, events, _origin(o)) for o in ("10.99.1.1", "10.99.1.2",
                                                                "10.99.1.3")}
        in_doubt = _count(es_url, events, {"terms": {"event.id": resent}})
        print("active-active:", json.dumps({
            "takeover_s": round(takeover, 1), "sent": to_active.sent | to_survivor.sent,
            "indexed": got, "resent_batch": len(resent), "resent_indexed": in_doubt,
            "lost_with_killed_instance": to_active.sent["10.99.1.1"] - got["10.99.1.1"]}))
        assert takeover < 30
        assert got["10.99.1.2"] == to_survivor.total
        assert got["10.99.1.3"] == to_active.sent["10.99.1.3"]
        assert in_doubt == len(resent) > 0  # the in-doubt batch reached a live receiver: all in
        assert got["10.99.1.1"] <= to_active.sent["10.99.1.1"]
        assert _repeated(es_url, events, "event.id") == []
        assert _repeated(es_url, findings, "finding.id") == []
        assert _count(es_url, findings, {"terms": {"source.ip": ["203.0.113.41",
                                                                 "203.0.113.42"]}}) == 2
    finally:
        for proc in procs:
            proc.stop()
        with httpx.Client(base_url=es_url, timeout=120) as client:
            client.delete(f"/{daemon_prefix}-*", params={"expand_wildcards": "all",
                                                         "ignore_unavailable": "true",
                                                         "allow_no_indices": "true"})
            client.delete(f"/_index_template/{daemon_prefix}-*")


def _scan(attacker: str) -> PortScan:
    return PortScan(attacker=attacker, target="10.20.5.10", at=0, ports=40, interval=0.02)
