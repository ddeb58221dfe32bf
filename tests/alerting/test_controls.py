"""Failed compliance controls as alerts through a real Alertmanager: a control that turns
``fail`` (or ``insufficient_data`` because a source is silent) fires with its requirement,
reason and evidence; it resolves when the control passes again. The control results are the
documents the compliance job writes (``result_document``), stored in Elasticsearch."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from monitor.alerting import build_alerting
from monitor.compliance.run import result_document, result_id
from monitor.metrics.definitions import Metrics
from monitor.model import ControlResult, ControlStatus
from monitor.settings import settings_from_dict
from monitor.store import Store
from monitor.store.compliance import put_documents

from .am import Alertmanager, Receiver, until

DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


async def _write(store: Store, control_id: str, status: ControlStatus, reason: str,
                 counts: dict[str, int]) -> None:
    result = ControlResult(control_id=control_id, control_name=f"control {control_id}",
                           requirements=("10.2.1", "10.4.1"), status=status,
                           period_start=DAY, period_end=DAY + timedelta(days=1),
                           evaluated_at=datetime.now(UTC), reason=reason, counts=counts)
    await put_documents(store, "compliance", [
        (result_id(result.framework, control_id, DAY, DAY + timedelta(days=1)),
         result_document(result))], refresh=True)




def _control(receiver: Receiver, control_id: str, status: str) -> dict[str, Any] | None:
    found = [a for _, a in receiver.alerts(status) if a["labels"].get("control_id") == control_id]
    return found[-1] if found else None


async def test_failing_and_unverifiable_controls_fire_and_resolve_when_passing(
        store: Store, tmp_path: Path) -> None:
    receiver = Receiver()
    am = Alertmanager(tmp_path, receiver, ["alertname", "control_id"])
    settings = settings_from_dict({"alerting": {
        "enabled": True, "alertmanager": {"urls": [am.url]}, "findings": False,
        "labels": {"site": "lab"}, "queue": {"dir": str(tmp_path / "q")}}})
    metrics = Metrics(CollectorRegistry(), "test")
    alerting = build_alerting(settings, store, metrics)
    assert alerting is not None
    try:
        await _write(store, "CHK-90", ControlStatus.failed, "3 changes without a ticket",
                     {"changes": 3, "without_ticket": 3})
        await _write(store, "CHK-91", ControlStatus.insufficient_data,
                     "source checkpoint-syslog silent for 2 h: no audit events to check",
                     {"events": 0})
        await _write(store, "CHK-92", ControlStatus.passed, "every change had a ticket", {})
        report = await alerting.run_sync()
        assert report.new == 2
        failing = await until(lambda: _control(receiver, "CHK-90", "firing"), 60, "CHK-90")
        assert failing["labels"] == {
            "alertname": "MonitorComplianceControlFailing", "severity": "high",
            "control_id": "CHK-90", "framework": "pci-dss-4.0.1", "pci": "10.2.1,10.4.1",
            "source": "monitor", "kind": "control", "site": "lab"}
        text = failing["annotations"]["description"]
        assert "Status: fail" in text and "Reason: 3 changes without a ticket" in text
        assert "Evidence: changes=3, without_ticket=3" in text
        assert failing["annotations"]["evidence"].startswith("monitor compliance status --from ")
        silent = await until(lambda: _control(receiver, "CHK-91", "firing"), 60, "CHK-91")
        assert "insufficient_data" in silent["annotations"]["summary"]
        assert "checkpoint-syslog silent" in silent["annotations"]["description"]
        assert _control(receiver, "CHK-92", "firing") is None

        # the control passes again: resolved, the other one keeps firing
        await _write(store, "CHK-90", ControlStatus.passed, "every change had a ticket", {})
        report = await alerting.run_sync()
        assert report.resolved == 1
        done = await until(lambda: _control(receiver, "CHK-90", "resolved"), 60, "resolve")
        assert done["labels"] == failing["labels"]
        assert _control(receiver, "CHK-91", "resolved") is None
        # fail -> insufficient_data is the same alert (status is not a label), still firing
        await _write(store, "CHK-91", ControlStatus.failed, "audit log gap", {})
        assert (await alerting.run_sync()).resolved == 0
    finally:
        await alerting.close()
        am.close()
        receiver.stop()
