"""Reports view: stored daily results combined over a longer period, per requirement."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.compliance.catalogue import Catalogue, Requirement
from monitor.compliance.run import requirement_status, result_document, result_id
from monitor.model import ControlResult, ControlStatus
from monitor.store.compliance import put_documents

D1 = datetime(2026, 11, 1, tzinfo=UTC)
CATALOGUE = Catalogue("pci-dss-4.0.1", "4.0.1", (
    Requirement("1.3.1", "inbound", ("CHK-14",)),
    Requirement("1.3.2", "outbound", ("CHK-15",)),
    Requirement("1.4.4", "chd", ("CHK-16",)),
    Requirement("1.2.3", "diagram", (), "diagram file age"),
))


def _result(control: str, day: int, status: ControlStatus) -> tuple[str, dict]:
    start = D1 + timedelta(days=day)
    result = ControlResult(control, f"name {control}", ("1.3.1",), status, start,
                           start + timedelta(days=1), start + timedelta(days=1, hours=1),
                           f"{status.value} on day {day}", {"evaluated": 5, "failed": 0})
    return result_id("pci-dss-4.0.1", control, result.period_start, result.period_end), \
        result_document(result)


async def test_daily_results_combine_over_two_days(store) -> None:
    await put_documents(store, "compliance", [
        _result("CHK-14", 0, ControlStatus.failed), _result("CHK-14", 1, ControlStatus.passed),
        _result("CHK-15", 0, ControlStatus.passed), _result("CHK-15", 1, ControlStatus.passed),
        _result("CHK-16", 0, ControlStatus.passed),  # day 2 never evaluated
        _result("CHK-16", 5, ControlStatus.failed),  # outside the range: ignored
    ], refresh=True)
    rows = {r.id: r for r in await requirement_status(store, CATALOGUE, D1, D1 + timedelta(days=2))}
    assert rows["1.3.1"].status == "fail"
    assert "2026-11-01: fail on day 0" in rows["1.3.1"].controls[0].reason
    assert rows["1.3.2"].status == "pass" and rows["1.3.2"].controls[0].periods == 2
    assert rows["1.4.4"].status == "insufficient_data"
    assert rows["1.4.4"].controls[0].reason.startswith("evaluated for 50% of the period")
    assert rows["1.2.3"].status == "manual" and rows["1.2.3"].coverage == "manual"
    # one day alone
    day2 = {r.id: r for r in await requirement_status(store, CATALOGUE, D1 + timedelta(days=1),
                                                      D1 + timedelta(days=2))}
    assert day2["1.3.1"].status == "pass"
    assert day2["1.4.4"].status == "insufficient_data"
    assert day2["1.4.4"].controls[0].reason == "not evaluated for this period"
