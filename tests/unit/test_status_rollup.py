"""One status roll-up for the compliance job, the stats job and the reports.

They used to disagree: the compliance job turned a requirement whose only control was waived
into ``insufficient_data`` and ignored a waiver next to a pass; the stats job let a manual
control outrank a passing one."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.compliance.catalogue import Catalogue, Requirement
from monitor.compliance.run import summarize
from monitor.model import STATUS_SEVERITY, ControlResult, ControlStatus, rollup_status, worst_status
from monitor.reports.data import STATUSES, worst
from monitor.reports.sections import requirement_status

T0 = datetime(2026, 11, 24, tzinfo=UTC)
T1 = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.mark.parametrize(("parts", "whole"), [
    ([], "manual"), (["manual"], "manual"), (["pass", "manual"], "pass"),
    (["pass", "insufficient_data"], "insufficient_data"), (["insufficient_data", "fail"], "fail"),
    (["waived", "pass"], "waived"), (["waived"], "waived"), (["waived", "waived"], "waived"),
    (["not_applicable", "pass"], "pass"), (["not_applicable"], "not_applicable"),
    (["not_applicable", "waived"], "waived"), (["fail", "waived", "manual"], "fail"),
    (["bogus", "pass"], "pass"),
])
def test_rollup_table(parts: list[str], whole: str) -> None:
    assert rollup_status(parts) == whole
    assert requirement_status(parts) == whole


def test_display_order_is_the_rollup_order() -> None:
    assert tuple(s.value for s in STATUS_SEVERITY) == STATUSES
    assert worst(["pass", "waived"]) == worst_status(["pass", "waived"]) == "waived"
    assert worst([], default="insufficient_data") == "insufficient_data"


def _result(control_id: str, status: ControlStatus) -> ControlResult:
    return ControlResult(control_id, control_id, ("1.1.1",), status, T0, T1, T1, "why")


def test_compliance_job_rolls_up_like_the_report() -> None:
    catalogue = Catalogue("pci-dss-4.0.1", "4.0.1", (
        Requirement("1.1.1", "only waived", ("C-1",)),
        Requirement("1.1.2", "waived and pass", ("C-2", "C-3")),
        Requirement("1.1.3", "manual and pass", ("C-4", "C-5")),
    ))
    summary = summarize(catalogue, [
        _result("C-1", ControlStatus.waived), _result("C-2", ControlStatus.waived),
        _result("C-3", ControlStatus.passed), _result("C-4", ControlStatus.manual),
        _result("C-5", ControlStatus.passed)])
    assert summary.requirement_status == {"1.1.1": "waived", "1.1.2": "waived", "1.1.3": "pass"}
