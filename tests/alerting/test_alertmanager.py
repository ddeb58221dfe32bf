"""Findings raised by the real rule engine reach a real Alertmanager (Debian 0.25) and from it a
webhook receiver served by this test: labels and annotations as documented, resolved when
acknowledged, queued on disk while Alertmanager is down and delivered once after it returns,
and a burst of 1,000 findings delivered in batches while rule evaluation goes on.

The daemon runs in-process (``Daemon.startup``) with the engine, the compliance job and the
alerting jobs it wires itself; only the events are written by the test."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from monitor.daemon.app import Daemon
from monitor.errors import StoreError
from monitor.findings import transition
from monitor.model import Document
from monitor.settings import settings_from_dict
from monitor.store import BulkWriter
from monitor.store.search import search

from .am import Alertmanager, Receiver, until

RULE_ID = "a1e27000-0000-4000-8000-00000000a1e2"
RULE = {
    "id": RULE_ID, "name": "Test alert: admin logon failure",
    "description": "A failed administrator logon (a rule made by the alerting tests).",
    "version": 1, "status": "test", "severity": "high", "risk_score": 60,
    "threat": [{"tactic": "TA0006"}], "pci_dss_v4_0_1": ["8.3.4", "10.2.1"],
    "note": "## Triage\n1. Who is the source?\n2. Was it an approved admin?",
    "type": "match", "query": "event.action:alerting-test-failure", "group_by": ["source.ip"],
    "max_findings": 2000, "suppress": {"window": "1h"},
    # delay: events are written with @timestamp = now, the window must not have passed them
    "schedule": {"interval": "1s", "lookback": "10m", "delay": "2s"},
}


def _value(daemon: Daemon, name: str, **labels: str) -> float:
    return daemon.registry.get_sample_value(name, labels) or 0.0




@dataclass
class Harness:
    daemon: Daemon
    receiver: Receiver
    am: Alertmanager
    prefix: str

    async def events(self, ips: list[str]) -> None:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        docs = []
        for ip in ips:
            doc_id = hashlib.sha1(f"{ip}{now}".encode()).hexdigest()[:20]
            docs.append(Document("events", doc_id, {
                "@timestamp": now, "event": {"action": "alerting-test-failure", "id": doc_id},
                "source": {"ip": ip}, "observer": {"name": "gw1"}}))
        assert daemon_store(self.daemon) is not None
        result = await BulkWriter(daemon_store(self.daemon)).write(docs, refresh=True)
        assert result.indexed == len(docs)

    async def finding(self, ip: str) -> dict[str, Any] | None:
        try:
            response = await search(daemon_store(self.daemon), "findings", {
                "size": 1, "query": {"term": {"finding.group.source_ip": ip}}})
        except StoreError:  # the findings index is being created
            return None
        hits = response["hits"]["hits"]
        return hits[0]["_source"] if hits else None


def daemon_store(daemon: Daemon) -> Any:
    assert daemon.store is not None
    return daemon.store


def _settings(es_url: str, prefix: str, tmp: Path, am_url: str, **alerting: Any) -> Any:
    rules = tmp / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "alerting-test.yaml").write_text(yaml.safe_dump(RULE, sort_keys=False))
    return settings_from_dict({
        "elasticsearch": {"hosts": [es_url], "index_prefix": prefix},
        "rules": {"dirs": [str(rules)], "schedule": {"interval_seconds": 1},
                  "compliance_schedule": {"interval_seconds": 3600}},
        "http": {"listen": "127.0.0.1:0"},
        "ha": {"lease_seconds": 10, "renew_seconds": 2, "instance_id": f"al-{prefix}"},
        "daemon": {"stats_interval_seconds": 5},
        "kibana": {"url": "https://kibana.example.net"},
        "alerting": {"enabled": True, "alertmanager": {"urls": [am_url]},
                     "labels": {"environment": "test", "site": "lab"}, "controls": False,
                     "sync_interval_seconds": 1, "resend_interval_seconds": 30,
                     "queue": {"dir": str(tmp / "alert-queue")},
                     "initial_backoff_seconds": 0.2, "max_backoff_seconds": 2, **alerting},
    })


@pytest.fixture
async def harness_factory(es_url: str, tmp_path: Path
                          ) -> AsyncIterator[Callable[..., Any]]:
    made: list[Harness] = []

    async def make(group_by: list[str], **alerting: Any) -> Harness:
        receiver = Receiver()
        am = Alertmanager(tmp_path, receiver, group_by)
        prefix = f"t-al{uuid.uuid4().hex[:8]}"
        daemon = Daemon(_settings(es_url, prefix, tmp_path, am.url, **alerting))
        harness = Harness(daemon, receiver, am, prefix)
        made.append(harness)
        await daemon.startup()
        await until(lambda: _value(daemon, "monitor_scheduler_job_runs_total", job_id="rules",
                                    outcome="success") >= 1, 120, "first rules run")
        return harness

    yield make
    for h in made:
        await h.daemon.shutdown()
        h.am.close()
        h.receiver.stop()
        async with httpx.AsyncClient(base_url=es_url) as client:
            await client.delete(f"/{h.prefix}-*", params={"expand_wildcards": "all"})
            await client.delete(f"/_index_template/{h.prefix}-*")


async def test_a_finding_arrives_with_its_context_and_acknowledging_resolves_it(
        harness_factory: Callable[..., Any]) -> None:
    h: Harness = await harness_factory(["alertname", "finding_id"])
    await h.events(["10.9.8.7"])
    doc = await _until_async(lambda: h.finding("10.9.8.7"), 60, "the engine's finding")
    fid = doc["finding"]["id"]
    await until(lambda: h.receiver.first_arrival(fid), 60, "the alert at the webhook")
    alert = next(a for _, a in h.receiver.alerts("firing") if a["labels"]["finding_id"] == fid)
    assert alert["labels"] == {
        "alertname": RULE["name"], "severity": "high", "rule_id": RULE_ID, "finding_id": fid,
        "pci": "10.2.1,8.3.4", "source": "monitor", "kind": "finding",
        "source_ip": "10.9.8.7", "environment": "test", "site": "lab"}
    notes = alert["annotations"]
    assert notes["summary"].startswith(f"{RULE['name']}: 1 events for source.ip=10.9.8.7")
    assert "What: A failed administrator logon" in notes["description"]
    assert notes["runbook"] == RULE["note"]
    assert notes["evidence"] == f"monitor findings show {fid}"
    assert notes["kibana_url"].startswith("https://kibana.example.net/app/discover#/")
    assert alert["startsAt"].startswith(doc["finding"]["first_seen"][:19])

    await transition(daemon_store(h.daemon), fid, "acknowledged", "oncall", "looking at it")
    await until(lambda: h.receiver.first_arrival(fid, "resolved"), 60, "the resolved alert")
    done = next(a for _, a in h.receiver.alerts("resolved") if a["labels"]["finding_id"] == fid)
    assert done["labels"] == alert["labels"]  # the same alert, ended
    assert _value(h.daemon, "monitor_alerts_sent_total", destination="alertmanager-1") >= 2
    assert _value(h.daemon, "monitor_alert_last_success_timestamp_seconds",
                  destination="alertmanager-1") > 0
    assert _value(h.daemon, "monitor_alerts_dropped_total", destination="alertmanager-1") == 0

    # a reload builds a new sender over the same queue: the replaced one hands it over
    assert await h.daemon.reload()
    await h.events(["10.9.8.6"])
    doc = await _until_async(lambda: h.finding("10.9.8.6"), 60, "a finding after the reload")
    await until(lambda: h.receiver.first_arrival(doc["finding"]["id"]), 60,
                 "an alert after the reload")


async def _until_async(make: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await make()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s: {what}"
        await asyncio.sleep(0.2)


async def test_latency_from_finding_written_to_webhook(harness_factory: Callable[..., Any],
                                                       record_property: Any) -> None:
    """20 findings, one at a time: written (finding ``event.created``) → at the receiver.
    The scheduled sync runs once (at start) in the test's time: every alert is sent by the sync
    the rules run that created its finding starts."""
    h: Harness = await harness_factory(["alertname", "finding_id"], sync_interval_seconds=3600)
    latencies = []
    for i in range(20):
        ip = f"10.20.0.{i + 1}"
        await h.events([ip])
        doc = await _until_async(lambda ip=ip: h.finding(ip), 60, f"finding {i}")
        fid = doc["finding"]["id"]
        arrived = await until(lambda fid=fid: h.receiver.first_arrival(fid), 60, f"alert {i}")
        written = datetime.fromisoformat(doc["event"]["created"])
        latencies.append(arrived - written.timestamp())
    median, worst = statistics.median(latencies), max(latencies)
    record_property("latency_median_s", round(median, 3))
    record_property("latency_max_s", round(worst, 3))
    print(f"\nfinding written -> webhook: median {median:.2f} s, max {worst:.2f} s "
          f"(sync after each rules run that created findings, Alertmanager group_wait 1 s)")
    assert all(0 < x < 30 for x in latencies), latencies  # generous: a loaded 2-core box


def _queued_on_disk(folder: Path) -> int:
    return sum(int(p.name.split("-")[1].split(".")[0]) for p in folder.glob("*-*.json"))


async def test_alertmanager_down_alerts_queue_then_arrive_once_even_across_a_restart(
        es_url: str, tmp_path: Path) -> None:
    """Alertmanager stopped: 40 findings are queued on disk and retried while rules keep
    running; the daemon is restarted meanwhile; Alertmanager returns; every alert arrives,
    none twice (grouping on: one group per rule name)."""
    receiver = Receiver()
    am = Alertmanager(tmp_path, receiver, ["alertname"])
    am.stop()
    prefix = f"t-al{uuid.uuid4().hex[:8]}"
    settings = _settings(es_url, prefix, tmp_path, am.url)
    first = Daemon(settings)
    second: Daemon | None = None
    queue = tmp_path / "alert-queue" / "alertmanager-1"
    try:
        await first.startup()
        h = Harness(first, receiver, am, prefix)
        await until(lambda: _value(first, "monitor_scheduler_job_runs_total", job_id="rules",
                                    outcome="success") >= 1, 120, "first rules run")
        ips = [f"10.40.0.{i}" for i in range(1, 41)]
        await h.events(ips)
        await until(lambda: _value(first, "monitor_alerts_queued",
                                    destination="alertmanager-1") >= 40, 90, "40 alerts queued")
        runs = _value(first, "monitor_scheduler_job_runs_total", job_id="rules", outcome="success")
        await until(lambda: _value(first, "monitor_alert_delivery_failures_total",
                                    destination="alertmanager-1") >= 3, 60, "retries")
        # rule evaluation never waits for delivery
        await until(lambda: _value(first, "monitor_scheduler_job_runs_total", job_id="rules",
                                    outcome="success") >= runs + 2, 60, "rules keep running")
        assert _value(first, "monitor_alerts_sent_total", destination="alertmanager-1") == 0
        assert await first.shutdown() == 0
        assert _queued_on_disk(queue) >= 40  # survived the stop

        am.start()
        second = Daemon(settings)
        await second.startup()
        await until(lambda: len({a["labels"]["finding_id"]
                                  for _, a in receiver.alerts("firing")}) >= 40, 90,
                     "every queued alert at the webhook")
        await until(lambda: _queued_on_disk(queue) == 0, 60, "queue drained")
        await asyncio.sleep(3)  # anything duplicated would arrive within group_interval
        fingerprints: dict[str, set[str]] = {}
        for _, body, _, _ in receiver.posts:
            ids = [a["labels"]["finding_id"] for a in body["alerts"]]
            assert len(ids) == len(set(ids)), "an alert twice in one notification"
            for alert in body["alerts"]:
                fingerprints.setdefault(alert["labels"]["finding_id"], set()).add(
                    alert["fingerprint"])
        assert len(fingerprints) == 40
        assert all(len(f) == 1 for f in fingerprints.values()), "one label set per finding"
        assert {a["labels"]["source_ip"] for _, a in receiver.alerts("firing")} == set(ips)
    finally:
        if second is not None:
            await second.shutdown()
        am.close()
        receiver.stop()
        async with httpx.AsyncClient(base_url=es_url) as client:
            await client.delete(f"/{prefix}-*", params={"expand_wildcards": "all"})
            await client.delete(f"/_index_template/{prefix}-*")


async def test_a_burst_of_1000_findings_is_delivered_in_batches_while_rules_run(
        harness_factory: Callable[..., Any], record_property: Any) -> None:
    own = Receiver()  # the monitor's signed webhook as a second destination shows the batches
    h: Harness = await harness_factory(["alertname"], batch_size=500,
                                       webhook={"url": own.url, "secret": "s3cret-key"})
    try:
        runs_before = _value(h.daemon, "monitor_scheduler_job_runs_total", job_id="rules",
                             outcome="success")
        ips = [f"10.{50 + i // 250}.{i % 250}.1" for i in range(1000)]
        await h.events(ips)
        started = time.time()
        await until(lambda: len({a["labels"]["finding_id"]
                                  for _, a in h.receiver.alerts("firing")}) >= 1000, 180,
                     "1,000 alerts through Alertmanager")
        through_am = time.time() - started
        await until(lambda: sum(len(b["alerts"]) for _, b, _, _ in own.posts) >= 1000, 60,
                     "1,000 alerts at the monitor's webhook")
        sizes = [len(b["alerts"]) for _, b, _, _ in own.posts]
        for _, _, headers, raw in own.posts:  # each body signed with the shared secret
            stamp, mac = headers["X-Monitor-Signature"].removeprefix("t=").split(",v1=")
            assert hmac.compare_digest(mac, hmac.new(b"s3cret-key", stamp.encode() + b"." + raw,
                                                     hashlib.sha256).hexdigest())
        assert len(sizes) >= 2 and max(sizes) <= 500, sizes
        runs_during = _value(h.daemon, "monitor_scheduler_job_runs_total", job_id="rules",
                             outcome="success") - runs_before
        assert runs_during >= 2, "rule evaluation went on during the burst"
        record_property("burst_seconds_events_to_all_at_webhook", round(through_am, 2))
        print(f"\n1,000 findings: events written -> all 1,000 at the Alertmanager webhook in "
              f"{through_am:.1f} s; monitor webhook batches {sizes}; rules runs meanwhile "
              f"{runs_during:.0f}")
    finally:
        own.stop()


async def test_the_daemons_compliance_results_become_control_alerts(
        harness_factory: Callable[..., Any]) -> None:
    """The real compliance job on an index without data: controls cannot be checked (their
    sources are empty), and each arrives as one alert naming requirement, control and reason."""
    h: Harness = await harness_factory(["alertname", "control_id"], controls=True,
                                       findings=False)
    alerts = await until(lambda: [a for _, a in h.receiver.alerts("firing")
                                   if a["labels"].get("kind") == "control"], 120,
                          "control alerts from the compliance job")
    alert = alerts[0]
    assert alert["labels"]["alertname"] == "MonitorComplianceControlFailing"
    assert alert["labels"]["pci"] and alert["labels"]["control_id"]
    assert alert["labels"]["framework"] == "pci-dss-4.0.1"
    assert "Status: insufficient_data" in alert["annotations"]["description"]
    assert "Reason: " in alert["annotations"]["description"]
    ids = [a["labels"]["control_id"] for a in alerts]
    assert len(ids) == len(set(ids))  # one alert per control
