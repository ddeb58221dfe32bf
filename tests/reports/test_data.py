"""Data layer and status rules: gaps, insufficient data, waivers, change matching, JSON twin."""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from monitor.reports.data import ReportData
from monitor.reports.gather import control_status, requirement_status, source_gaps
from monitor.reports.inputs import Waiver
from monitor.reports.period import custom_period, period_for
from monitor.reports.render import render_html, render_json

from .fixtures import PERIOD, SHA

T0 = datetime(2026, 11, 24, tzinfo=UTC)


def _hist(empty_hours: set[int]) -> list[tuple[datetime, int]]:
    return [(T0 + timedelta(minutes=5 * i), 0 if (5 * i) // 60 in empty_hours else 3)
            for i in range(288)]


def test_source_gaps_finds_silences_and_ignores_short_ones() -> None:
    assert source_gaps(_hist(set()), 300, PERIOD, PERIOD.end, 3600) == ()
    gaps = source_gaps(_hist({9, 10, 11, 12}), 300, PERIOD, PERIOD.end, 3600)
    assert [(g.start, g.end, g.seconds) for g in gaps] == [
        (T0 + timedelta(hours=9), T0 + timedelta(hours=13), 4 * 3600)]
    assert source_gaps(_hist({5}), 300, PERIOD, PERIOD.end, 7200) == ()  # 1 h < 2 h threshold
    # a trailing silence counts up to "now" only, never into the future
    gaps = source_gaps(_hist(set(range(20, 24))), 300, PERIOD, T0 + timedelta(hours=22), 3600)
    assert [(g.start, g.end) for g in gaps] == [(T0 + timedelta(hours=20), T0 + timedelta(hours=22))]


def test_missing_data_is_never_a_pass() -> None:
    assert control_status("pass", 1.0, [], [], PERIOD) == ("pass", [])
    status, notes = control_status("pass", 1.0, ["checkpoint.firewall @ gw-cde-1"], [], PERIOD)
    assert status == "insufficient_data" and "gw-cde-1" in notes[0]
    status, notes = control_status("pass", 0.9, [], [], PERIOD)
    assert status == "insufficient_data" and "90.0%" in notes[0]


def test_waivers_expire_into_failures() -> None:
    active = Waiver("W1", "CHK-05", "why", "ciso", PERIOD.end + timedelta(days=1))
    expired = Waiver("W2", "CHK-05", "why", "ciso", PERIOD.end - timedelta(seconds=1))
    assert control_status("fail", 1.0, [], [active], PERIOD)[0] == "waived"
    assert control_status("fail", 1.0, [], [expired], PERIOD)[0] == "fail"
    assert control_status("waived", 1.0, [], [expired], PERIOD)[0] == "fail"
    assert control_status("waived", 1.0, [], [], PERIOD)[0] == "fail"
    assert control_status("waived", 1.0, [], [active], PERIOD)[0] == "waived"


def test_requirement_rollup() -> None:
    assert requirement_status([]) == "manual"
    assert requirement_status(["manual"]) == "manual"
    assert requirement_status(["pass", "manual"]) == "pass"
    assert requirement_status(["pass", "insufficient_data"]) == "insufficient_data"
    assert requirement_status(["insufficient_data", "fail"]) == "fail"
    assert requirement_status(["waived", "pass"]) == "waived"
    assert requirement_status(["not_applicable", "pass"]) == "pass"
    assert requirement_status(["not_applicable"]) == "not_applicable"


def test_periods() -> None:
    now = datetime(2026, 11, 25, 0, 30, tzinfo=UTC)
    assert period_for("daily", now).label == "daily_2026-11-24"
    weekly = period_for("weekly", now)
    assert (weekly.start, weekly.end) == (datetime(2026, 11, 16, tzinfo=UTC),
                                          datetime(2026, 11, 23, tzinfo=UTC))
    assert period_for("monthly", now).label == "monthly_2026-10"
    assert period_for("quarterly", now).label == "quarterly_2026-Q3"
    assert period_for("monthly", datetime(2026, 1, 3, tzinfo=UTC)).label == "monthly_2025-12"
    assert custom_period(T0, T0 + timedelta(days=2)).label == "custom_20261124T0000Z_20261126T0000Z"


def _by_id(items, key="id"):
    return {getattr(i, key): i for i in items}


async def test_silent_source_makes_its_control_insufficient_not_pass(report_data: ReportData) -> None:
    sources = _by_id(report_data.provenance.sources, "name")
    cde = sources["checkpoint.firewall @ gw-cde-1"]
    assert cde.continuous and len(cde.gaps) == 1
    gap = cde.gaps[0]
    # silent 09:00–13:00; the last event before is at 08:50, so the 5-minute bucket at 08:55
    # is the first empty one
    assert gap.start == T0 + timedelta(hours=8, minutes=55) and gap.end == T0 + timedelta(hours=13)
    assert sources["checkpoint.firewall @ gw-edge-1"].gaps == ()
    assert sources["checkpoint.audit @ mgmt-1"].gaps == ()  # sparse: hours of quiet are normal
    controls = _by_id(report_data.controls)
    chk14 = controls["CHK-14"]
    assert chk14.evaluated_status == "pass" and chk14.status == "insufficient_data"
    assert "gw-cde-1" in chk14.adjustments[0]
    assert controls["CHK-16"].status == "insufficient_data"  # the evaluator said so itself
    assert controls["CHK-01"].status == "pass"  # reads the audit source, which had no gap
    # a pass that covers only half of the period is not a pass for the period
    assert controls["CHK-17"].evaluated_status == "pass"
    assert controls["CHK-17"].status == "insufficient_data"
    assert "cover 50% of the period" in controls["CHK-17"].adjustments[-1]
    assert controls["CHK-21"].status == "pass"  # two half-day windows cover the day
    requirements = _by_id(report_data.requirements)
    assert requirements["1.3.1"].status == "insufficient_data"
    html = render_html(report_data)
    row = re.search(r'<tr id="req-1\.3\.1">.*?</tr>', html, re.DOTALL).group(0)
    assert 's-insufficient_data">Insufficient data<' in row and "s-pass" not in row.split("</td>")[2]
    assert "source silent during the period: checkpoint.firewall @ gw-cde-1" in html


async def test_every_catalogue_requirement_is_listed(report_data: ReportData) -> None:
    from .fixtures import inputs

    listed = {r.id for r in report_data.requirements}
    assert {r.id for r in inputs().catalogue} <= listed
    requirements = _by_id(report_data.requirements)
    assert requirements["1.2.3"].status == "manual"          # no control at all
    assert requirements["1.3.3"].status == "manual"          # control without implementation
    assert requirements["10.4.1"].status == "insufficient_data"  # implemented, no result
    assert requirements["6.5.4"].reason.startswith("not in the requirements catalogue")


async def test_waivers_and_change_control(report_data: ReportData) -> None:
    controls = _by_id(report_data.controls)
    assert controls["CHK-04"].evaluated_status == "waived" and controls["CHK-04"].status == "fail"
    assert controls["CHK-05"].status == "waived"
    waivers = _by_id(report_data.waivers)
    assert waivers["W-7"].state == "expired" and waivers["W-9"].state == "active"
    assert waivers["W-7"].applied_to == ("CHK-04",)
    assert waivers["EXC-3"].kind == "finding"
    assert waivers["EXC-3"].applied_to == ("1 finding(s) in the period",)
    cc = report_data.change_control
    assert (cc.total, cc.matched, cc.out_of_band, cc.system) == (4, 2, 1, 1)
    publish, install, manual, system = cc.records
    assert publish.match_tier == "sha" and publish.matched.sha == SHA
    assert install.match_tier == "ticket" and install.matched.checks_passed is True
    assert manual.classification == "out_of_band" and manual.administrator == "alice"
    assert system.classification == "system"
    summary = report_data.summary
    assert summary.status == "fail" and summary.previous.label == "daily_2026-11-23"
    assert summary.score == 9.1 and summary.score_delta == -70.9
    assert [p.label for p in summary.trend] == ["daily_2026-11-23", "daily_2026-11-24"]
    assert report_data.threats.total == 5 and report_data.health.dead_letters.total == 3
    assert len(report_data.health.job_failures) == 1
    gaps = report_data.health.rule_gaps
    assert [(g.kind, g.key) for g in gaps] == [("rule_gap", "rule:R-PORTSCAN"),
                                               ("rule window behind", "rule-window:R-BRUTE")]
    assert "searched to 2026-11-24T18:00:00Z, 360 min of the period not evaluated" in gaps[1].detail


async def test_json_twin_carries_the_same_facts_as_the_html(report_data: ReportData) -> None:
    twin = json.loads(render_json(report_data))["report"]
    html = render_html(report_data)
    html_requirements = dict(re.findall(
        r'<tr id="req-([^"]+)"><td[^>]*>[^<]*</td><td>.*?</td><td[^>]*>'
        r'<span class="badge s-([a-z_]+)">', html))
    assert html_requirements == {r["id"]: r["status"] for r in twin["requirements"]}
    assert len(html_requirements) == len(report_data.requirements)
    html_controls = dict(re.findall(r'<article class="control st-[a-z_]+" id="control-([^"]+)">\s*'
                                    r'<h3>.*?<span class="badge s-([a-z_]+)">', html))
    assert html_controls == {c["id"]: c["status"] for c in twin["controls"]}
    assert twin["summary"]["score"] == report_data.summary.score
    assert f'{twin["summary"]["score"]:.1f}%' in html
    assert twin["change_control"]["out_of_band"] == 1
    assert twin["provenance"]["period_start"] == "2026-11-24T00:00:00Z"
    gaps = twin["health"]["ingestion_gaps"]
    assert gaps[0][0] == "checkpoint.firewall @ gw-cde-1" and gaps[0][1]["seconds"] == 14700


async def test_a_silence_shorter_than_the_source_cadence_does_not_block_a_pass(seeded) -> None:
    import dataclasses

    from monitor.reports.gather import gather_report

    from .fixtures import NOW, inputs

    relaxed = dataclasses.replace(inputs(), source_intervals={"checkpoint.firewall": 5 * 3600})
    data = await gather_report(seeded, PERIOD, relaxed, NOW)
    chk14 = _by_id(data.controls)["CHK-14"]
    assert chk14.status == "pass" and chk14.adjustments == ()
    # the silence is still reported as an ingestion gap
    assert [name for name, _ in data.health.ingestion_gaps] == ["checkpoint.firewall @ gw-cde-1"]


def test_change_matching_tiers() -> None:
    from monitor.reports.sections import change_records

    def hit(i: int, admin: str, session: str, description: str) -> dict:
        return {"_id": f"e{i}", "_source": {"@timestamp": "2026-11-24T01:00:00Z", "checkpoint": {
            "administrator": admin, "operation": "Modify Rule", "session_name": session,
            "session_description": description}}}

    answer = {"hits": {"total": {"value": 4}, "hits": [
        hit(1, "ci", "gitops/fw abcdef1", ""), hit(2, "bob", "bob@1/1/2026", "CHG1234567"),
        hit(3, "eve", "eve@1/1/2026", "1234567 no letters: not a SHA"),
        hit(4, "ci", "gitops/fw", "OPS-42 rollout")]}}
    approved = {"kind": "pull_request", "independent_approval": True, "checks_passed": True}
    changes = [{"@timestamp": "2026-11-24T00:30:00Z",
                "change": {"sha": "abcdef1" + "0" * 33, "repo": "fw", **approved}},
               {"@timestamp": "2026-11-24T00:40:00Z",
                "change": {"sha": "f" * 40, "repo": "fw", "tickets": ["OPS-42"], **approved}}]
    cc = change_records(answer, changes)
    assert [(r.classification, r.match_tier) for r in cc.records] == [
        ("matched", "sha"), ("ticket_only", ""), ("out_of_band", ""), ("matched", "ticket")]
    assert (cc.matched, cc.ticket_only, cc.out_of_band) == (2, 1, 1)


async def test_agrees_with_the_compliance_package_where_no_report_rule_applies(
        seeded, report_data: ReportData) -> None:
    """The report's aggregation roll-up gives the same requirement status as
    ``monitor.compliance.requirement_status`` (which reads the result documents), except where
    the report's own rules (waivers, per-gateway silences) deliberately differ."""
    from monitor.compliance import requirement_status as compliance_status
    from monitor.compliance.catalogue import Catalogue
    from monitor.compliance.catalogue import Requirement as CRequirement

    from .fixtures import inputs

    catalogue = Catalogue("pci-dss-4.0.1", "4.0.1", tuple(
        CRequirement(r.id, r.title, r.controls, r.manual) for r in inputs().catalogue))
    theirs = {r.id: r.status for r in await compliance_status(seeded, catalogue, PERIOD.start,
                                                              PERIOD.end)}
    ours = {r.id: r.status for r in report_data.requirements}
    report_rules = {"1.3.1",             # CHK-14: a gateway silent 4 h (report rule)
                    "6.2.3.1", "6.5.1",  # CHK-04 expired waiver, CHK-05 active waiver
                    "1.3.3"}             # CHK-31 has no control file in this fixture: manual
    compared = sorted(set(theirs) - report_rules)
    assert len(compared) >= 8
    assert {k: ours[k] for k in compared} == {k: theirs[k] for k in compared}
    assert theirs["1.3.1"] == "pass" and ours["1.3.1"] == "insufficient_data"


def test_waiver_file_formats(tmp_path) -> None:
    from monitor.reports.inputs import load_waivers

    path = tmp_path / "exceptions.yaml"
    path.write_text("""exceptions:
  - id: EXC-2026-001
    rules: [R-SCAN]
    match: {source.ip: 10.20.0.5}
    justification: Quarterly ASV scan from the approved scanner
    approver: jane.doe (CISO)
    expires: 2026-12-31
  - id: W-1
    control: CHK-05
    justification: runner upgrade pending
    approver: ciso
    expires: 2026-11-30T00:00:00Z
""")
    waivers, problems = load_waivers(path)
    assert problems == []
    by_id = {w.id: w for w in waivers}
    assert by_id["EXC-2026-001"].kind == "finding"
    assert by_id["EXC-2026-001"].target == "rules R-SCAN; source.ip=10.20.0.5"
    assert by_id["W-1"].kind == "control" and by_id["W-1"].target == "CHK-05"
    assert by_id["W-1"].expires == datetime(2026, 11, 30, tzinfo=UTC)
