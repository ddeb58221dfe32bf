"""Metric definitions: names, bounded labels, zero-initialised series, docs coverage."""
from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from monitor.metrics.collectors import LagCollector, Positions, ReceiverCollector
from monitor.metrics.definitions import Metrics, es_operation

ROOT = Path(__file__).resolve().parents[2]


def _metrics() -> tuple[CollectorRegistry, Metrics]:
    registry = CollectorRegistry()
    return registry, Metrics(registry, "1.2.3")


def test_build_info_and_static_series_start_at_zero() -> None:
    registry, _ = _metrics()
    assert registry.get_sample_value("monitor_build_info", {"version": "1.2.3",
                                                            "python": pytest.importorskip(
                                                                "platform").python_version()}) == 1
    for severity in ("low", "medium", "high", "critical"):
        assert registry.get_sample_value("monitor_findings_open", {"severity": severity}) == 0
    assert registry.get_sample_value("monitor_ha_role", {"role": "active"}) == 0
    assert registry.get_sample_value("monitor_es_bulk_rejections_total") == 0


def test_labelled_series_exist_at_zero_once_known() -> None:
    registry, metrics = _metrics()
    metrics.add_source("gw1", 1024, silent_after_seconds=600, started_at=1000.0)
    metrics.add_rule("port-scan")
    metrics.add_job("rules")
    metrics.add_framework("pci-dss-4.0.1", ["10.2.1"])
    assert registry.get_sample_value("monitor_source_events_ingested_total",
                                     {"source": "gw1"}) == 0
    assert registry.get_sample_value("monitor_source_spool_capacity_bytes",
                                     {"source": "gw1"}) == 1024
    assert registry.get_sample_value("monitor_source_silent_after_seconds",
                                     {"source": "gw1"}) == 600
    # silence counts from start: the last-event clock starts at the daemon's start
    assert registry.get_sample_value("monitor_source_last_event_timestamp_seconds",
                                     {"source": "gw1"}) == 1000.0
    assert registry.get_sample_value("monitor_rule_runs_total",
                                     {"rule": "port-scan", "outcome": "error"}) == 0
    assert registry.get_sample_value("monitor_rule_matches_total",
                                     {"rule": "port-scan", "severity": "critical"}) == 0
    assert registry.get_sample_value("monitor_scheduler_jobs_missed_total",
                                     {"job_id": "rules"}) == 0
    assert registry.get_sample_value("monitor_compliance_requirement_status",
                                     {"framework": "pci-dss-4.0.1", "requirement": "10.2.1",
                                      "status": "fail"}) == 0
    # a second add_source (reload) does not reset the silence clock
    metrics.source_last_event.labels(source="gw1").set(2000.0)
    metrics.add_source("gw1", 1024, silent_after_seconds=600, started_at=3000.0)
    assert registry.get_sample_value("monitor_source_last_event_timestamp_seconds",
                                     {"source": "gw1"}) == 2000.0


def test_requirement_status_is_one_hot_and_rejects_unknown_status() -> None:
    registry, metrics = _metrics()
    metrics.add_framework("pci-dss-4.0.1", ["1.2.5"])
    metrics.set_requirement_status("pci-dss-4.0.1", "1.2.5", "fail")
    values = {status: registry.get_sample_value(
        "monitor_compliance_requirement_status",
        {"framework": "pci-dss-4.0.1", "requirement": "1.2.5", "status": status})
        for status in ("pass", "fail", "insufficient_data", "manual")}
    assert values == {"pass": 0, "fail": 1, "insufficient_data": 0, "manual": 0}
    with pytest.raises(ValueError):
        metrics.set_requirement_status("pci-dss-4.0.1", "1.2.5", "green")


def test_role_gauges() -> None:
    registry, metrics = _metrics()
    metrics.set_role(True)
    assert registry.get_sample_value("monitor_ha_active") == 1
    assert registry.get_sample_value("monitor_ha_role", {"role": "standby"}) == 0
    metrics.set_role(False)
    assert registry.get_sample_value("monitor_ha_role", {"role": "standby"}) == 1


def test_lag_is_computed_at_scrape_time() -> None:
    registry, _ = _metrics()
    positions = Positions()
    now = [1000.0]
    registry.register(LagCollector(positions, clock=lambda: now[0]))
    positions.track_source("gw1")
    positions.track_rule("r1")
    assert registry.get_sample_value("monitor_source_lag_seconds", {"source": "gw1"}) == 0
    positions.set_source("gw1", 990.0)
    positions.set_rule("r1", 900.0)
    assert registry.get_sample_value("monitor_source_lag_seconds", {"source": "gw1"}) == 10
    now[0] = 1100.0
    assert registry.get_sample_value("monitor_source_lag_seconds", {"source": "gw1"}) == 110
    assert registry.get_sample_value("monitor_rule_window_lag_seconds", {"rule": "r1"}) == 200
    positions.set_source("gw1", 950.0)  # an older position never moves the source backwards
    assert registry.get_sample_value("monitor_source_lag_seconds", {"source": "gw1"}) == 110


@pytest.mark.parametrize(("method", "path", "operation"), [
    ("POST", "/_bulk", "bulk"),
    ("POST", "/monitor-events-*/_search", "search"),
    ("POST", "/_msearch", "msearch"),
    ("GET", "/monitor-state/_doc/lease-active", "get"),
    ("PUT", "/monitor-state/_doc/lease-active", "index"),
    ("PUT", "/monitor-state/_create/x", "index"),
    ("GET", "/_cluster/health", "health"),
    ("POST", "/monitor-events-*/_count", "count"),
    ("DELETE", "/monitor-events-2024.01", "indices"),
    ("GET", "/_nodes/_local/plugins", "other"),
])
def test_es_operation_label_is_bounded(method: str, path: str, operation: str) -> None:
    assert es_operation(method, path) == operation


def test_every_metric_is_documented() -> None:
    registry, _ = _metrics()
    registry.register(LagCollector(Positions()))
    registry.register(ReceiverCollector(lambda: {"syslog": {"received": 1}}))
    suffix = {"counter": "_total", "info": "_info"}
    names = {family.name + suffix.get(family.type, "") for family in registry.collect()}
    doc = (ROOT / "docs" / "metrics.md").read_text()
    missing = sorted(name for name in names if f"`{name}" not in doc)
    assert not missing, f"metrics not documented in docs/metrics.md: {missing}"
    for name in names:
        assert name.startswith("monitor_"), name


def test_receiver_counters_are_read_at_scrape_time() -> None:
    registry, _ = _metrics()
    status = {"received": 10, "spooled": 4, "replayed": 4, "dropped_spool_full": 0}
    registry.register(ReceiverCollector(lambda: {"syslog": status}))
    assert registry.get_sample_value("monitor_receiver_records_received_total",
                                     {"source": "syslog"}) == 10
    assert registry.get_sample_value("monitor_receiver_records_refused_total",
                                     {"source": "syslog", "reason": "spool_full"}) == 0
    status["dropped_spool_full"] = 7
    assert registry.get_sample_value("monitor_receiver_records_refused_total",
                                     {"source": "syslog", "reason": "spool_full"}) == 7
