"""Pure judgement: statuses, precedence, coverage, streaks, roll-up (no Elasticsearch)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.compliance.catalogue import Catalogue, Requirement
from monitor.compliance.checks import Judging, kind_of
from monitor.compliance.controls import Control, Source
from monitor.compliance.evaluate import (
    CheckOutcome,
    Coverage,
    Evidence,
    evaluate_control,
    source_coverage,
)
from monitor.compliance.queries import Period, ms, substitute
from monitor.compliance.run import summarize
from monitor.inventory import inventory_from_dict
from monitor.model import ControlStatus

DAY = Period(datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC))
NOW = DAY.end + timedelta(hours=1)


def judge_check(check, responses, params, period, now=None) -> CheckOutcome:
    """A check's verdict through its kind's module (what ``gather.py`` calls)."""
    return kind_of(check).judge(check, responses, Judging(params, period, now=now))


def _control(**over) -> Control:
    data = {"id": "CHK-90", "name": "unit control", "description": "a control for unit tests",
            "requirements": ["1.3.1"], "data_sources": ["traffic"],
            "checks": [{"name": "no bad flows", "type": "no_matches", "violation": {"match_all": {}}}],
            "pass_criteria": "none bad", "evidence": "flows", "remediation": "fix it",
            "fixtures": [{"name": "clean", "expect": "pass"}, {"name": "dirty", "expect": "fail"}]}
    data.update(over)
    return Control.model_validate(data)


def _outcome(status: ControlStatus, failed: int = 0) -> CheckOutcome:
    return CheckOutcome("no bad flows", "no_matches", status, f"check {status.value}", 10, failed)


def _cov(present: int, expected: int = 24) -> Coverage:
    return Coverage("traffic", "1h", expected, present, present * 10)


def test_status_precedence() -> None:
    control = _control()
    full, gappy = {"traffic": _cov(24)}, {"traffic": _cov(20)}
    cases = [
        (Evidence(full, [_outcome(ControlStatus.passed)]), ControlStatus.passed),
        (Evidence(gappy, [_outcome(ControlStatus.passed)]), ControlStatus.insufficient_data),
        (Evidence(gappy, [_outcome(ControlStatus.failed, 2)]), ControlStatus.failed),
        (Evidence({}, [_outcome(ControlStatus.passed)]), ControlStatus.insufficient_data),
        (Evidence({"traffic": _cov(0)}, [_outcome(ControlStatus.not_applicable)]),
         ControlStatus.insufficient_data),
        (Evidence(full, [_outcome(ControlStatus.not_applicable)]), ControlStatus.not_applicable),
        (Evidence(full, [], missing_inventory=["cde_networks"]), ControlStatus.insufficient_data),
        (Evidence(full, [_outcome(ControlStatus.insufficient_data)]), ControlStatus.insufficient_data),
    ]
    for evidence, expected in cases:
        result = evaluate_control(control, evidence, DAY, NOW)
        assert result.status == expected, (evidence, result.reason)
    gap = evaluate_control(control, Evidence(gappy, [_outcome(ControlStatus.passed)]), DAY, NOW)
    assert "traffic covers 20/24 1h buckets" in gap.reason
    assert gap.completeness == round(20 / 24, 4)
    manual = _control(mode="manual", checks=[], fixtures=[])
    assert evaluate_control(manual, Evidence(), DAY, NOW).status == ControlStatus.manual


def test_coverage_counts_empty_buckets_and_ignores_the_future() -> None:
    source = Source(name="traffic", description="t", kind="events", query={"match_all": {}},
                    interval="1h", heartbeat=[{}])
    hours = [DAY.start + timedelta(hours=h) for h in range(24) if h not in (5, 6, 7)]
    response = {"hits": {"total": {"value": 21}}, "aggregations": {"buckets": {"buckets": [
        {"key": ms(h), "doc_count": 1} for h in hours]}}}
    cov = source_coverage(source, response, DAY, NOW)
    assert (cov.expected, cov.present, cov.complete) == (24, 21, False)
    assert cov.gaps == (("2026-11-24T05:00:00.000Z", "2026-11-24T08:00:00.000Z"),)
    # evaluated at 12:30 of the same day: the 12 finished hours, plus 12:00 which has data
    midday = source_coverage(source, response, DAY, DAY.start + timedelta(hours=12, minutes=30))
    assert (midday.expected, midday.present) == (13, 10)
    empty = source_coverage(source, {"aggregations": {"buckets": {"buckets": []}}}, DAY, NOW)
    assert empty.present == 0 and not empty.complete


def _streak(minutes: list[tuple[int, int, int]]) -> dict:
    return {"aggregations": {"keys": {"buckets": [{"key": "admin", "minutes": {"buckets": [
        {"key": ms(DAY.start) + m * 60_000, "outcome": {"buckets": {
            "failure": {"doc_count": f}, "success": {"doc_count": s}}}}
        for m, f, s in minutes]}}]}}}


def test_streak_is_sliding_not_bucketed() -> None:
    control = _control(checks=[{"name": "streak", "type": "streak", "by": "user.name",
                                "failure": {"match_all": {}}, "success": {"match_all": {}}}])
    check = control.checks[0]
    # 5 failures at 00:58, 5 at 01:02 (across an hour border), success at 01:10 → violation
    bad = judge_check(check, [_streak([(58, 5, 0), (62, 5, 0), (70, 0, 1)])], {}, DAY)
    assert bad.status == ControlStatus.failed and bad.failed == 1
    # the same failures but the success 40 minutes after the first: outside 30 min → pass
    ok = judge_check(check, [_streak([(58, 5, 0), (62, 5, 0), (95, 0, 1)])], {}, DAY)
    assert ok.status == ControlStatus.passed
    nine = judge_check(check, [_streak([(10, 9, 0), (11, 0, 1)])], {}, DAY)
    assert nine.status == ControlStatus.passed


def test_substitution_and_queries_have_no_scripts() -> None:
    inventory = inventory_from_dict({"zones": [{"name": "cde", "cde": True,
                                                "networks": ["10.20.0.0/16"]}]})
    params = inventory.params()
    query = substitute({"terms": {"ip": ["10.0.0.1", "$inventory.cde_networks"]},
                        "range": {"t": {"lt": "$period.end||-24h"}}}, params, DAY)
    assert query == {"terms": {"ip": ["10.0.0.1", "10.20.0.0/16"]},
                     "range": {"t": {"lt": "2026-11-25T00:00:00.000Z||-24h"}}}
    import orjson

    from monitor.compliance import load_controls
    for control in load_controls():
        for check in control.checks:
            for _, body in kind_of(check).requests(check, inventory.params(), DAY):
                text = orjson.dumps(body).decode()
                for forbidden in ('"script"', '"bucket_selector"', '"bucket_sort"',
                                  '"runtime_mappings"', '"scripted_metric"'):
                    assert forbidden not in text, (control.id, forbidden)
                assert body.get("size", 0) == 0 and "sort" not in body


def test_summarize_rolls_up_worst_status_and_score() -> None:
    catalogue = Catalogue("pci-dss-4.0.1", "4.0.1", (
        Requirement("1.3.1", "inbound", ("CHK-90", "CHK-91")),
        Requirement("1.3.2", "outbound", ("CHK-92",)),
        Requirement("1.2.3", "diagram", (), "diagram file"),
        Requirement("1.2.8", "config", ("CHK-93",)),
        Requirement("10.5.1", "retention", ("CHK-94",)),
    ))

    def result(cid: str, status: ControlStatus):
        control = _control(id=cid, name=f"c {cid}")
        out = evaluate_control(control, Evidence({"traffic": _cov(24)}, [_outcome(status)]), DAY, NOW)
        return out

    results = [result("CHK-90", ControlStatus.passed), result("CHK-91", ControlStatus.failed),
               result("CHK-92", ControlStatus.passed),
               result("CHK-93", ControlStatus.insufficient_data)]
    summary = summarize(catalogue, results)
    assert summary.requirement_status == {"1.3.1": "fail", "1.3.2": "pass", "1.2.3": "manual",
                                          "1.2.8": "insufficient_data",
                                          "10.5.1": "manual"}
    assert summary.score == round(1 / 3, 4)
    assert summary.by_status == {"pass": 2, "fail": 1, "insufficient_data": 1}


def test_publish_metrics_sets_gauges() -> None:
    from prometheus_client import CollectorRegistry

    from monitor.compliance.run import Summary, publish_metrics
    from monitor.metrics.definitions import Metrics

    registry = CollectorRegistry()
    metrics = Metrics(registry, "test")
    summary = Summary("pci-dss-4.0.1", {"1.3.1": "fail", "8.3.6": "manual"}, {"fail": 1}, 0.5)
    publish_metrics(metrics, summary, NOW)
    labels = {"framework": "pci-dss-4.0.1", "requirement": "1.3.1"}
    assert registry.get_sample_value("monitor_compliance_requirement_status",
                                     {**labels, "status": "fail"}) == 1
    assert registry.get_sample_value("monitor_compliance_requirement_status",
                                     {**labels, "status": "pass"}) == 0
    assert registry.get_sample_value("monitor_compliance_score_ratio",
                                     {"framework": "pci-dss-4.0.1"}) == 0.5


def test_in_progress_period_expects_only_elapsed_buckets() -> None:
    """The daemon evaluates the current day hourly: hours still to come are not gaps."""
    at_1030 = DAY.start + timedelta(hours=10, minutes=30)
    hours = [ms(DAY.start + timedelta(hours=h)) for h in range(11)]  # 00:00..10:00 have data
    control = _control(checks=[{"name": "per gateway", "type": "each_present", "field": "g",
                                "expected": ["gw1"], "interval": "1h"}])
    response = {"aggregations": {"groups": {"buckets": [
        {"key": "gw1", "doc_count": 11, "buckets": {"buckets": [
            {"key": h, "doc_count": 1} for h in hours]}}]}}}
    now_ok = judge_check(control.checks[0], [response], {}, DAY, now=at_1030)
    assert now_ok.status == ControlStatus.passed and now_ok.evaluated == 11
    at_end = judge_check(control.checks[0], [response], {}, DAY, now=NOW)
    assert at_end.status == ControlStatus.failed and at_end.failed == 13
    source = Source(name="git", description="g", kind="changes", query={"match_all": {}},
                    interval="1d", heartbeat=[{}])
    day_bucket = {"aggregations": {"buckets": {"buckets": [{"key": ms(DAY.start), "doc_count": 2}]}}}
    assert source_coverage(source, day_bucket, DAY, at_1030).complete
    assert not source_coverage(source, {"aggregations": {"buckets": {"buckets": []}}}, DAY,
                               at_1030).complete
