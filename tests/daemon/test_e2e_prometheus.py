"""End to end: ``monitor run`` scraped by a real Prometheus, alerts through a real Alertmanager.

A sample Log Exporter stream goes over TCP into the daemon's syslog receiver. An injected port
scan makes a critical rule (the real engine, a test rule pack) produce a finding; the
``MonitorCriticalFinding`` alert must fire in Prometheus and reach the webhook through
Alertmanager. Stopping the stream must make ``MonitorSourceSilent`` fire for ``syslog``.
The alert expressions are the shipped ones; only ``for:`` durations are shortened.
"""
from __future__ import annotations

import shutil
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from monitor.simulate.checkpoint import PortScan, SimConfig, generate

from .procs import ROOT, MonitorProcess, base_config, free_port, wait_for
from .stack import Stack, Webhook, shortened_alert_rules

ATTACKER = "203.0.113.66"


def critical_rule_pack(folder: Path, delay: str = "8s") -> Path:
    """The bundled port-scan rule, made critical and fast to evaluate. Events must be indexed
    within ``delay`` of their timestamp to be evaluated (the engine's late-data bound)."""
    folder.mkdir()
    rule = yaml.safe_load((ROOT / "rules" / "threat" / "cp_port_scan.yaml").read_text())
    rule.update(id="0e2e0e2e-0000-4000-8000-00000000c817",
                name="E2E critical port scan", severity="critical", risk_score=99,
                schedule={"interval": "2s", "lookback": "10m", "delay": delay})
    rule["cardinality"] = {**rule["cardinality"], "count": 20}
    (folder / "e2e_critical.yaml").write_text(yaml.safe_dump(rule, sort_keys=False))
    shutil.copy(ROOT / "rules" / "threat" / "cp_port_scan.fixtures.yaml",
                folder / "e2e_critical.fixtures.yaml")
    return folder


class Stream:
    """Sends simulated Log Exporter lines (timestamped now) over TCP until stopped."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.running = True
        self.sent = 0
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def send(self, lines: list[str]) -> None:
        with self.lock:
            self.sock.sendall("".join(line + "\n" for line in lines).encode())
            self.sent += len(lines)

    def _run(self) -> None:
        seed = 1000
        while self.running:
            seed += 1
            batch = [line for _, line in generate(SimConfig(count=10, seed=seed,
                                                            start=datetime.now(UTC),
                                                            events_per_second=50))]
            self.send(batch)
            time.sleep(0.25)

    def stop(self) -> None:
        self.running = False
        self.thread.join(timeout=10)
        self.sock.close()


def test_metrics_alerts_and_notifications_end_to_end(tmp_path: Path, es_url: str,
                                                     daemon_prefix: str) -> None:
    tcp_port = free_port()
    config = base_config(
        es_url, daemon_prefix,
        sources={"syslog": {"enabled": True, "udp": None, "tcp": f"127.0.0.1:{tcp_port}",
                            "flush_interval_seconds": 0.5}},
        rules={"dirs": [str(critical_rule_pack(tmp_path / "rules"))],
               "schedule": {"interval_seconds": 2}},
        daemon={"source_silent_after_seconds": 15})
    daemon = MonitorProcess(tmp_path, "e2e", config).start()
    webhook = Webhook()
    stack = None
    stream = None
    try:
        daemon.wait_ready()
        rules = shortened_alert_rules(tmp_path, {"MonitorSourceSilent": "2s"})
        stack = Stack(tmp_path, [f"127.0.0.1:{daemon.port}"], rules, webhook)
        stream = Stream(tcp_port)
        # Prometheus scrapes the daemon and sees events flowing
        wait_for(lambda: stack.query('up{job="monitor"} == 1'), 60, "the scrape to succeed",
                 on_fail=lambda: stack.tail("prometheus.log"))
        wait_for(lambda: stack.query(
            'monitor_source_events_ingested_total{source="syslog"} > 0'), 90,
            "ingested events in Prometheus", on_fail=daemon.tail)
        assert stack.query('monitor_build_info{job="monitor"}')
        assert not stack.alerts("MonitorCriticalFinding")
        assert not stack.alerts("MonitorSourceSilent", source="syslog")

        # the injected scenario: a port scan, through the receiver, the engine and the stats
        scan = [line for _, line in generate(SimConfig(
            count=0, seed=3, start=datetime.now(UTC),
            scenarios=(PortScan(attacker=ATTACKER, target="10.20.5.10", at=0, ports=40,
                                interval=0.02),)))]
        assert len(scan) >= 40
        stream.send(scan)
        wait_for(lambda: stack.alerts("MonitorCriticalFinding"), 150,
                 "MonitorCriticalFinding to fire in Prometheus", interval=1,
                 on_fail=daemon.tail)
        wait_for(lambda: webhook.alerts("MonitorCriticalFinding"), 60,
                 "the alert to reach the webhook through Alertmanager", interval=1,
                 on_fail=lambda: stack.tail("alertmanager.log"))
        notified = webhook.alerts("MonitorCriticalFinding")[0]
        assert notified["labels"]["severity"] == "critical"
        assert "critical finding" in notified["annotations"]["summary"]
        # the source was never silent while the stream ran
        assert not stack.alerts("MonitorSourceSilent", source="syslog")

        # stop the sample stream: the source goes silent
        stream.stop()
        stream = None
        wait_for(lambda: stack.alerts("MonitorSourceSilent", source="syslog"), 120,
                 "MonitorSourceSilent to fire", interval=1, on_fail=daemon.tail)
        wait_for(lambda: webhook.alerts("MonitorSourceSilent"), 60,
                 "the silence alert to reach the webhook", interval=1)
    finally:
        if stream is not None:
            stream.stop()
        if stack is not None:
            stack.stop()
        webhook.stop()
        daemon.stop()
