"""An Alertmanager HA pair: every alert goes to both members, each through its own disk queue,
so one member down delays nothing on the other and gets everything once it is back."""
from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from monitor.alerting import build_alerting
from monitor.findings import write_findings
from monitor.metrics.definitions import Metrics
from monitor.settings import settings_from_dict
from monitor.store import Store

from .am import Alertmanager, Receiver, until
from .test_webhook import _finding


def _ids(receiver: Receiver) -> set[str]:
    return {a["labels"]["finding_id"] for _, a in receiver.alerts("firing")}


async def test_both_members_get_every_alert_one_down_delays_nothing(store: Store,
                                                                    tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = Receiver(), Receiver()
    am1 = Alertmanager(tmp_path / "a", first, ["alertname"])
    am2 = Alertmanager(tmp_path / "b", second, ["alertname"])
    am2.stop()
    settings = settings_from_dict({"alerting": {
        "enabled": True, "alertmanager": {"urls": [am1.url, am2.url]}, "controls": False,
        "queue": {"dir": str(tmp_path / "q")}, "initial_backoff_seconds": 0.2,
        "max_backoff_seconds": 1}})
    metrics = Metrics(CollectorRegistry(), "test")
    alerting = build_alerting(settings, store, metrics)
    assert alerting is not None
    try:
        docs = [_finding(f"203.0.113.{i}") for i in range(1, 4)]
        await write_findings(store, docs)
        await alerting.run_sync()
        wanted = {d["finding"]["id"] for d in docs}
        await until(lambda: _ids(first) == wanted, 30, "member 1 notified")
        assert metrics.registry.get_sample_value(
            "monitor_alerts_queued", {"destination": "alertmanager-2"}) == 3
        assert metrics.registry.get_sample_value(
            "monitor_alerts_queued", {"destination": "alertmanager-1"}) == 0
        am2.start()
        await until(lambda: _ids(second) == wanted, 60, "member 2 notified after its return")
        await until(lambda: metrics.registry.get_sample_value(
            "monitor_alerts_queued", {"destination": "alertmanager-2"}) == 0, 30, "drained")
    finally:
        await alerting.close()
        for am in (am1, am2):
            am.close()
        first.stop()
        second.stop()
