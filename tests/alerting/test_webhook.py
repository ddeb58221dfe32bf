"""The signed webhook for those without Alertmanager: Alertmanager's webhook body (version 4),
an HMAC-SHA256 signature over timestamp and body, retried with backoff from the same disk queue
while the receiver fails (503), delivered once it answers, resolved when acknowledged; a body
the receiver refuses as invalid (400) is dropped and counted instead of blocking the queue."""
from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from monitor.alerting import build_alerting
from monitor.findings import finding_doc, finding_id, transition, write_findings
from monitor.metrics.definitions import Metrics
from monitor.model import Finding, Severity
from monitor.settings import settings_from_dict
from monitor.store import Store

from .am import Receiver, until

SECRET = b"webhook-s3cret"


def _finding(ip: str) -> dict[str, Any]:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    group = {"source.ip": ip}
    rule_id = "b0b0b0b0-0000-4000-8000-00000000b0b0"
    return finding_doc(Finding(
        id=finding_id(rule_id, group, start), rule_id=rule_id, rule_name="Webhook test rule",
        rule_version=1, rule_type="match", severity=Severity.critical, risk_score=95,
        window_start=start, window_end=start + timedelta(hours=1), group=group, count=3,
        query={}, first_seen=start + timedelta(minutes=1), last_seen=start + timedelta(minutes=2),
        pci_requirements=("11.5.1",), description="a finding written by the webhook test"))




def _metric(metrics: Metrics, name: str) -> float:
    return metrics.registry.get_sample_value(name, {"destination": "webhook"}) or 0.0


async def test_signed_webhook_retries_then_delivers_and_resolves(store: Store,
                                                                 tmp_path: Path) -> None:
    receiver = Receiver(status=503)
    settings = settings_from_dict({"alerting": {
        "enabled": True, "webhook": {"url": receiver.url, "secret": SECRET.decode()},
        "controls": False, "queue": {"dir": str(tmp_path / "q")},
        "initial_backoff_seconds": 0.2, "max_backoff_seconds": 1}})
    metrics = Metrics(CollectorRegistry(), "test")
    alerting = build_alerting(settings, store, metrics)
    assert alerting is not None
    try:
        doc = _finding("192.0.2.7")
        await write_findings(store, [doc])
        assert (await alerting.run_sync()).new == 1
        await until(lambda: _metric(metrics, "monitor_alert_delivery_failures_total") >= 3, 30,
                     "retries against a failing receiver")
        assert _metric(metrics, "monitor_alerts_queued") == 1
        assert not receiver.posts
        receiver.status = 200
        await until(lambda: receiver.posts, 30, "delivery once the receiver is back")
        at, body, headers, raw = receiver.posts[0]
        stamp, mac = headers["X-Monitor-Signature"].removeprefix("t=").split(",v1=")
        assert abs(int(stamp) - at) < 60
        assert hmac.compare_digest(mac, hmac.new(SECRET, stamp.encode() + b"." + raw,
                                                 hashlib.sha256).hexdigest())
        assert body["version"] == "4" and body["status"] == "firing"
        assert set(body) >= {"groupKey", "receiver", "groupLabels", "commonLabels",
                             "commonAnnotations", "externalURL", "alerts", "truncatedAlerts"}
        alert = body["alerts"][0]
        assert alert["status"] == "firing" and alert["fingerprint"]
        assert alert["labels"]["finding_id"] == doc["finding"]["id"]
        assert alert["labels"]["source_ip"] == "192.0.2.7"
        assert alert["annotations"]["evidence"] == f"monitor findings show {doc['finding']['id']}"
        await until(lambda: _metric(metrics, "monitor_alerts_queued") == 0, 10, "queue empty")
        assert _metric(metrics, "monitor_alerts_sent_total") == 1

        await transition(store, doc["finding"]["id"], "closed", "tester", "false positive")
        await store.es.indices.refresh(index=f"{store.names.prefix}-findings*")
        assert (await alerting.run_sync()).resolved == 1
        await until(lambda: len(receiver.posts) >= 2, 30, "the resolve")
        resolved = receiver.posts[1][1]
        assert resolved["status"] == "resolved"
        assert resolved["alerts"][0]["labels"] == alert["labels"]
        assert resolved["alerts"][0]["annotations"]["resolution"] == "closed"

        # a body the receiver calls invalid is dropped (counted), later alerts still flow
        receiver.status = 400
        await write_findings(store, [_finding("192.0.2.8")])
        await alerting.run_sync()
        await until(lambda: _metric(metrics, "monitor_alerts_dropped_total") == 1, 30, "drop")
        receiver.status = 200
        await write_findings(store, [_finding("192.0.2.9")])
        await alerting.run_sync()
        await until(lambda: any(a["labels"].get("source_ip") == "192.0.2.9"
                                 for _, a in receiver.alerts()), 30, "the next alert")
    finally:
        await alerting.close()
        receiver.stop()


async def test_excepted_findings_are_not_posted_and_resurface_when_the_waiver_expires(
        store: Store, tmp_path: Path) -> None:
    receiver = Receiver()
    settings = settings_from_dict({"alerting": {
        "enabled": True, "webhook": {"url": receiver.url, "secret": SECRET.decode()},
        "controls": False, "queue": {"dir": str(tmp_path / "q")}}})
    alerting = build_alerting(settings, store, Metrics(CollectorRegistry(), "test"))
    assert alerting is not None
    now = datetime.now(UTC)
    waived, expired, low = _finding("198.51.100.1"), _finding("198.51.100.2"), \
        _finding("198.51.100.3")
    for doc, expires in ((waived, now + timedelta(days=1)), (expired, now - timedelta(hours=1))):
        doc["finding"].update(suppressed=True, exception="EXC-1",
                              exception_expires=expires.isoformat().replace("+00:00", "Z"))
    low["rule"]["severity"] = "low"  # below min_severity
    alerting.sync.severities = ("medium", "high", "critical")
    try:
        await write_findings(store, [waived, expired, low])
        report = await alerting.run_sync()
        assert (report.open, report.new) == (1, 1)
        await until(lambda: receiver.posts, 30, "the resurfaced finding")
        posted = {a["labels"]["source_ip"] for _, a in receiver.alerts()}
        assert posted == {"198.51.100.2"}  # waived: silent; expired waiver: open again
    finally:
        await alerting.close()
        receiver.stop()
