"""Pure payload building and the disk queue: labels bounded and stable, annotations that say
what happened, the webhook body shape and its signature, queue durability and bounds."""
from __future__ import annotations

import hashlib
import hmac
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.alerting.payload import (
    AlertOptions,
    control_alert,
    finding_alert,
    label_value,
    sign,
    webhook_payload,
)
from monitor.alerting.queue import DiskQueue

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
RULE_ID = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c81"


def _doc(**group: str) -> dict:
    group = group or {"source_ip": "10.0.0.1", "user_name": "alice"}
    key = "|".join(f"{k.replace('_', '.', 1)}={v}" for k, v in sorted(group.items()))
    return {
        "finding": {"id": "f" * 40, "status": "open", "group_key": key, "group": group,
                    "count": 7, "window": {"start": "2026-12-02T11:00:00.000Z",
                                           "end": "2026-12-02T12:00:00.000Z"},
                    "first_seen": "2026-12-02T11:03:00.000Z",
                    "last_seen": "2026-12-02T11:09:00.000Z"},
        "rule": {"id": RULE_ID, "name": "Admin brute force", "severity": "high",
                 "description": "Many failed admin logons"},
        "pci": {"requirements": ["8.3.4", "10.2.1"]},
    }


OPTS = AlertOptions(static_labels={"environment": "prod", "severity": "spoofed"},
                    resend_seconds=60, notes={RULE_ID: "## Triage\n1. look\n2. decide"},
                    kibana_url="https://kibana.example.net")


def test_finding_alert_labels_annotations_and_times() -> None:
    alert = finding_alert(_doc(), now=NOW, opts=OPTS)
    assert alert["labels"] == {
        "alertname": "Admin brute force", "severity": "high", "rule_id": RULE_ID,
        "finding_id": "f" * 40, "pci": "10.2.1,8.3.4", "source": "monitor", "kind": "finding",
        "source_ip": "10.0.0.1", "user_name": "alice", "environment": "prod"}
    notes = alert["annotations"]
    assert notes["summary"] == "Admin brute force: 7 events for source.ip=10.0.0.1|user.name=alice (high)"
    assert "Where: source.ip=10.0.0.1|user.name=alice" in notes["description"]
    assert "Count: 7 in window 2026-12-02T11:00:00.000Z .. 2026-12-02T12:00:00.000Z" in \
        notes["description"]
    assert notes["runbook"] == "## Triage\n1. look\n2. decide"
    assert notes["evidence"] == f"monitor findings show {'f' * 40}"
    assert alert["startsAt"] == "2026-12-02T11:03:00.000Z"  # first event
    assert alert["endsAt"] == "2026-12-02T12:04:00.000Z"  # now + 4 x resend
    assert finding_alert(_doc(), now=NOW, opts=OPTS, resolve=True)["endsAt"] == \
        "2026-12-02T12:00:00.000Z"
    # the same document gives the same label set at every post (Alertmanager's identity)
    later = finding_alert(_doc(), now=NOW + timedelta(hours=3), opts=OPTS)
    assert later["labels"] == alert["labels"]


def test_hostile_group_values_are_bounded_and_stay_distinct() -> None:
    long_a = "A" * 500 + "\x1b[31m\u202e"
    long_b = "A" * 500 + "B"
    a = finding_alert(_doc(user_name=long_a), now=NOW, opts=OPTS)["labels"]["user_name"]
    b = finding_alert(_doc(user_name=long_b), now=NOW, opts=OPTS)["labels"]["user_name"]
    assert len(a) <= 128 and len(b) <= 128 and a != b
    assert "\x1b" not in a and "\u202e" not in a
    assert label_value("x\ny\tz", 20) == "x?y?z"
    assert label_value(long_a, 128) == a  # stable


def test_kibana_link_quotes_hostile_values() -> None:
    evil = "x' or 1:1&_a=(evil)"
    url = finding_alert(_doc(source_ip=evil), now=NOW, opts=OPTS)["annotations"]["kibana_url"]
    assert url.startswith("https://kibana.example.net/app/discover#/?_g=")
    assert url.count("&") == 1  # no parameter injected
    decoded = urllib.parse.unquote(url)
    assert "source.ip:\"x!' or 1:1&_a=(evil)\"" in decoded  # KQL-quoted, Rison-escaped


def test_runbook_url_template_and_control_alert() -> None:
    opts = AlertOptions(static_labels={}, runbook_url="https://wiki/runbooks/{rule_id}")
    notes = finding_alert(_doc(), now=NOW, opts=opts)["annotations"]
    assert notes["runbook_url"] == f"https://wiki/runbooks/{RULE_ID}"
    control = {"control": {"id": "CHK-07", "name": "Logs from every gateway", "status": "fail",
                           "requirements": ["10.2.1"], "framework": "pci-dss-4.0.1",
                           "reason": "gw2 silent for 3 h", "counts": {"silent": 1},
                           "evaluated_at": "2026-12-02T11:00:00.000Z",
                           "period": {"start": "2026-12-02T00:00:00.000Z",
                                      "end": "2026-12-03T00:00:00.000Z"}}}
    alert = control_alert(control, now=NOW, opts=opts)
    assert alert["labels"]["control_id"] == "CHK-07" and alert["labels"]["pci"] == "10.2.1"
    assert "status" not in alert["labels"]  # fail → insufficient_data stays one alert
    assert "Reason: gw2 silent for 3 h" in alert["annotations"]["description"]
    assert "Evidence: silent=1" in alert["annotations"]["description"]


def test_webhook_payload_shape_and_signature() -> None:
    firing = finding_alert(_doc(), now=NOW, opts=OPTS)
    done = finding_alert(_doc(user_name="bob"), now=NOW, opts=OPTS, resolve=True)
    body = webhook_payload([firing, done], now=NOW + timedelta(seconds=1))
    assert body["version"] == "4" and body["status"] == "firing"
    assert [a["status"] for a in body["alerts"]] == ["firing", "resolved"]
    assert body["commonLabels"]["alertname"] == "Admin brute force"
    assert "user_name" not in body["commonLabels"]
    assert len({a["fingerprint"] for a in body["alerts"]}) == 2
    raw = b'{"a":1}'
    header = sign(raw, b"k3y", 1700000000)
    expected = hmac.new(b"k3y", b"1700000000." + raw, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_queue_is_durable_ordered_and_bounded(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path / "q", max_bytes=64 * 1024)
    for i in range(3):
        assert queue.push(b"x" * 1000 + str(i).encode(), alerts=2) == []
    (tmp_path / "q" / "0000000000000099-1.tmp").write_bytes(b"half")  # a crash mid-write
    again = DiskQueue(tmp_path / "q", max_bytes=64 * 1024)
    assert len(again) == 3 and again.alerts == 6
    assert not list((tmp_path / "q").glob("*.tmp"))
    first = again.peek()
    assert first is not None and first.read().endswith(b"0")
    again.ack(first)
    assert again.peek().read().endswith(b"1")
    # full: the oldest entries go, and are reported
    dropped = again.push(b"y" * 65_000, alerts=5)
    assert [e.alerts for e in dropped] == [2, 2]
    assert again.alerts == 5 and again.bytes <= 64 * 1024
    assert DiskQueue(tmp_path / "q", max_bytes=64 * 1024).peek().read().startswith(b"y")
