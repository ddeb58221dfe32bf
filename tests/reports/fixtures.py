"""A fixed, hostile report data set: documents of the shapes in ``monitor/store/mappings.py``
written straight into Elasticsearch with the BulkWriter.

Period: the daily report of 2026-11-24 (generated 2026-11-25T00:30Z). What it holds:

* ``checkpoint.firewall`` from ``gw-edge-1`` every 10 minutes all day, and from ``gw-cde-1``
  except 09:00–13:00 (a 4 h silence → ``CHK-14`` reads that dataset and must not pass);
* ``checkpoint.audit`` from ``mgmt-1``: a Publish naming a Git SHA (matched), an Install
  Policy naming a ticket (matched), a human Modify Rule with no reference (out-of-band), a
  system Publish;
* Git changes of ``fw-policy``; findings; dead letters; a job failure and a rule gap in
  ``state``; the previous day's report record;
* control results (``compliance``) covering pass, fail, evaluator-side insufficient data,
  waived with an expired waiver, failed with an active waiver, and a pass whose source had a gap.

Every free-text value an attacker could control carries a payload from ``PAYLOADS``.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.model import Document
from monitor.reports.inputs import ControlMeta, ReportInputs, Requirement, Waiver
from monitor.reports.period import Period, iso, period_for
from monitor.store import BulkWriter, Store

NOW = datetime(2026, 11, 25, 0, 30, tzinfo=UTC)
PERIOD: Period = period_for("daily", NOW)
FRAMEWORK = "pci-dss-4.0.1"
SHA = "3f1c2a9be07d4c1f9a8e6b5d4c3b2a1908f7e6d5"

#: attacker-controlled strings; each sets window.__xss or a visible effect if it ever runs
PAYLOADS = {
    "script": "<script>window.__xss='script'</script>",
    "img": "<img src=x onerror=\"window.__xss='img'\">",
    "handler": "\" onmouseover=\"window.__xss='attr'\" x=\"",
    "js_link": "<a href=\"javascript:window.__xss='link'\">click</a>",
    "css": "</style><style>body{display:none!important}</style>",
    "svg": "<svg onload=\"window.__xss='svg'\"></svg>",
    "close_pre": "</pre><script>window.__xss='pre'</script>",
    "template": "{{ 7*7 }}{% raw %}",
    "bidi": "invoice\u202egnp.exe\x1b[2J",
}


def _ts(moment: datetime) -> str:
    return iso(moment)


def _event(i: int, moment: datetime, gateway: str, dataset: str, **extra: Any) -> Document:
    source = {"@timestamp": _ts(moment), "event": {"kind": "event", "dataset": dataset,
                                                    "id": f"{gateway}-{i}"},
              "observer": {"name": gateway, "vendor": "Checkpoint", "type": "firewall"},
              **extra}
    return Document("events", f"{gateway}-{dataset}-{i}", source)


def documents() -> list[Document]:
    docs: list[Document] = []
    start = PERIOD.start
    # continuous firewall traffic, with the previous day for "last event" look-back
    for step in range(-144, 144):
        moment = start + timedelta(minutes=10 * step)
        docs.append(_event(step, moment, "gw-edge-1", "checkpoint.firewall",
                           source={"ip": "198.51.100.7"}, destination={"ip": "10.0.0.5"}))
        if not (start + timedelta(hours=9) <= moment < start + timedelta(hours=13)):
            docs.append(_event(step, moment, "gw-cde-1", "checkpoint.firewall",
                               source={"ip": "10.1.0.9"}, destination={"ip": "10.2.0.4"},
                               rule={"name": PAYLOADS["css"]}))
    audit = [
        (8, "Publish", "pipeline", "WEB_API", f"gitops/fw-policy {SHA[:12]}", "CHG0001234 deploy",
         "Access Control Rule", "allow-payments"),
        (9, "Install Policy", "pipeline", "WEB_API", "gitops/fw-policy", "CHG0005678",
         "Policy", "Standard"),
        (14, "Modify Rule", "alice", "SmartConsole", PAYLOADS["handler"], PAYLOADS["js_link"],
         "Access Control Rule", PAYLOADS["script"]),
        (20, "Publish", "System", "SmartConsole", "Global Domain Assignment",
         "Global Domain Assignment", "Global", "global"),
    ]
    for i, (hour, op, admin, product, session, description, otype, oname) in enumerate(audit):
        docs.append(_event(1000 + i, start + timedelta(hours=hour, minutes=5), "mgmt-1",
                           "checkpoint.audit",
                           checkpoint={"operation": op, "administrator": admin,
                                       "product": product, "session_name": session,
                                       "session_description": description,
                                       "objecttype": otype, "objectname": oname,
                                       "audit_status": "Success"},
                           user={"name": admin}))
    # git changes
    changes = [
        (SHA, 7, PAYLOADS["img"], ["CHG0001234"], ["bob"], True, True,
         "feature/" + PAYLOADS["script"]),
        ("9" * 40, 8, "Tighten CDE egress " + PAYLOADS["template"], ["CHG0005678"],
         ["carol", PAYLOADS["handler"]], True, True, "main"),
        ("a" * 40, 2, "Unrelated docs change", [], [], False, True, "main"),
    ]
    for sha, hour, subject, tickets, approvers, independent, checks, branch in changes:
        docs.append(Document("changes", f"fw-policy-{sha}", {
            "@timestamp": _ts(start + timedelta(hours=hour)),
            "event": {"kind": "event", "dataset": "git.commit"},
            "change": {"kind": "pull_request", "repo": "fw-policy", "branch": branch,
                       "sha": sha,
                       "subject": subject, "tickets": tickets, "approvers": approvers,
                       "independent_approval": independent, "checks_passed": checks,
                       "environment": "prod",
                       "pull_request": {"number": 41 + hour, "title": PAYLOADS["svg"],
                                        "url": "javascript:alert(1)"},
                       "deployment": {"id": f"dep-{hour}", "status": "success"}}}))
    # findings
    findings = [
        ("R-PORTSCAN", "Port scan " + PAYLOADS["img"], "high", 73, "203.0.113.9", "10.2.0.4", 3, 40),
        ("R-PORTSCAN", "Port scan " + PAYLOADS["img"], "high", 73, "203.0.113.10", "10.2.0.4", 5, 25),
        ("R-BRUTE", "Admin brute force", "critical", 95, "192.0.2.66", "10.9.9.9", 11, 12),
        ("R-CLEARTEXT", "Cleartext into CDE", "medium", 47, "10.1.0.9", "10.2.0.4", 15, 3),
        ("R-NEWADMINIP", PAYLOADS["script"], "low", 21, "10.1.0.10", "10.0.0.1", 22, 1),
    ]
    for i, (rule, name, sev, risk, src, dst, hour, count) in enumerate(findings):
        docs.append(Document("findings", f"finding-{i}", {
            "@timestamp": _ts(start + timedelta(hours=hour)),
            "finding": {"id": f"finding-{i}", "status": "open" if i % 2 == 0 else "acknowledged",
                        "rule_type": "threshold", "count": count,
                        "group": {"source.ip": src, "note": PAYLOADS["close_pre"]},
                        **({"exception": "EXC-3", "suppressed": True} if rule == "R-CLEARTEXT"
                           else {}),
                        "window": {"start": _ts(start + timedelta(hours=hour)),
                                   "end": _ts(start + timedelta(hours=hour, minutes=5))}},
            "rule": {"id": rule, "name": name, "severity": sev, "risk_score": risk, "version": "1"},
            "source": {"ip": src}, "destination": {"ip": dst}}))
    # dead letters
    for i in range(3):
        docs.append(Document("deadletter", f"dl-{i}", {
            "@timestamp": _ts(start + timedelta(hours=3 + i)),
            "event": {"kind": "pipeline_error", "dataset": "monitor.deadletter"},
            "deadletter": {"source": "checkpoint:syslog:10.0.0.1", "stage": "parse",
                           "reason": "unterminated field " + PAYLOADS["svg"],
                           "raw": PAYLOADS["script"]}}))
    # daemon state
    docs.append(Document("state", "job-failure-1", {
        "kind": "job_failure", "key": "source:cp-mgmt", "updated_at": _ts(start + timedelta(hours=10)),
        "value": {"error": "login failed " + PAYLOADS["img"], "attempts": 3}}))
    docs.append(Document("state", "rule-gap-1", {
        "kind": "rule_gap", "key": "rule:R-PORTSCAN", "updated_at": _ts(start + timedelta(hours=11)),
        "value": {"from": _ts(start + timedelta(hours=9)), "to": _ts(start + timedelta(hours=10)),
                  "backfilled": True}}))
    # rule windows: one rule caught up, one stopped at 18:00 (the report must say so)
    for rule, searched_to in (("R-PORTSCAN", PERIOD.end + timedelta(minutes=29)),
                              ("R-BRUTE", start + timedelta(hours=18))):
        docs.append(Document("state", f"rule-window:{rule}", {
            "kind": "rule-window", "key": f"rule-window:{rule}", "updated_at": _ts(searched_to),
            "value": {"searched_to": _ts(searched_to), "last_success": _ts(searched_to),
                      "pending": []}}))
    # a new_terms rule still learning: caught up, but its 14-day history is not indexed yet
    learnt_at = PERIOD.end + timedelta(days=9)
    docs.append(Document("state", "rule-window:R-NEWADMINIP", {
        "kind": "rule-window", "key": "rule-window:R-NEWADMINIP",
        "updated_at": _ts(PERIOD.end + timedelta(minutes=29)),
        "value": {"searched_to": _ts(PERIOD.end + timedelta(minutes=29)),
                  "last_success": _ts(PERIOD.end + timedelta(minutes=29)), "pending": [],
                  "learning": True, "learning_until": _ts(learnt_at)}}))
    # previous report record
    prev = period_for("daily", NOW - timedelta(days=1))
    docs.append(Document("reports", "prev-report", {
        "@timestamp": _ts(prev.end + timedelta(minutes=30)),
        "report": {"id": f"{FRAMEWORK}:{prev.label}:x", "framework": FRAMEWORK, "period": "daily",
                   "label": prev.label, "start": _ts(prev.start), "end": _ts(prev.end),
                   "generated_at": _ts(prev.end + timedelta(minutes=30)), "score": 80.0,
                   "status": "fail", "sha256": "0" * 64,
                   "statuses": ["1.2.2=pass", "1.2.8=fail", "1.3.1=pass", "8.2.1=pass",
                                "6.5.1=fail"]}}))
    docs.extend(_control_results())
    return docs


def _result(control: str, name: str, reqs: list[str], status: str, start: datetime,
            end: datetime, reason: str, counts: dict[str, int], evidence: dict[str, Any],
            completeness: float = 1.0) -> Document:
    return Document("compliance", f"{control}-{iso(start)}", {
        "@timestamp": _ts(end),
        "control": {"id": control, "name": name, "status": status, "requirements": reqs,
                    "framework": FRAMEWORK, "period": {"start": _ts(start), "end": _ts(end)},
                    "evaluated_at": _ts(end + timedelta(minutes=5)), "reason": reason,
                    "counts": counts, "completeness": completeness, "evidence": evidence}})


def _control_results() -> list[Document]:
    s, e = PERIOD.start, PERIOD.end
    half = s + timedelta(hours=12)
    q_publish = {"query": {"bool": {"filter": [{"terms": {"checkpoint.operation":
                                                          ["Publish", "Install Policy"]}}]}}}
    return [
        _result("CHK-01", "Policy installs match approved Git changes", ["1.2.2", "6.5.1"],
                "pass", s, e, "2 of 2 installs matched to approved, tested changes",
                {"evaluated": 2, "passed": 2, "failed": 0},
                {"checks": [{"name": "installs reconcile to Git", "type": "reconcile",
                             "status": "pass", "reason": "2 of 2 matched", "evaluated": 2,
                             "failed": 0, "queries": [q_publish],
                             "details": {"events": 2, "unmatched_events": 0, "unmatched": [],
                                         "matched": [{"reference": SHA[:12], "count": 1}],
                                         "samples": ["mgmt-1-checkpoint.audit-1000"]}}],
                 "sources": {"firewall_audit": {"coverage": 1.0}},
                 "pass_criteria": "100% of installs matched"}),
        _result("CHK-02", "No out-of-band firewall changes", ["1.2.2", "1.2.8", "6.5.4"],
                "fail", s, e, "1 human change without a ticket or commit " + PAYLOADS["img"]
                + PAYLOADS["bidi"],
                {"evaluated": 4, "passed": 3, "failed": 1},
                {"query": {"query_string": {"query": "checkpoint.operation:\"Modify Rule\" AND "
                                                     + PAYLOADS["close_pre"]}},
                 "index": "monitor-events-*",
                 "samples": [{"administrator": "alice", "objectname": PAYLOADS["script"],
                              "session_name": PAYLOADS["handler"],
                              "link": "javascript:window.__xss='sample'",
                              "style": PAYLOADS["css"]}],
                 "refs": ["mgmt-1-checkpoint.audit-1002", PAYLOADS["svg"]]}),
        _result("CHK-04", "Independent approval of merges", ["6.2.3.1", "6.5.1"], "waived", s, e,
                "1 merge approved only by its author; waived",
                {"evaluated": 3, "passed": 2, "failed": 1}, {"index": "monitor-changes-*"}),
        _result("CHK-05", "Deployments had passing checks", ["6.5.1"], "fail", s, e,
                "1 deployment without passing checks", {"evaluated": 2, "passed": 1, "failed": 1},
                {"index": "monitor-changes-*", "samples": [{"sha": "9" * 40, "checks": "failed"}]}),
        _result("CHK-14", "Inbound CDE traffic on the allow-list", ["1.3.1", "1.4.2"], "pass",
                s, e, "no accepted inbound flow outside the allow-list",
                {"evaluated": 140, "violations": 0},
                {"query": {"term": {"event.action": "Accept"}}, "index": "monitor-events-*",
                 "sources": ["checkpoint.firewall"]}),
        _result("CHK-16", "No untrusted access to CHD storage", ["1.4.4"], "insufficient_data",
                s, e, "gw-cde-1 silent 4 h of 24", {"evaluated": 120, "violations": 0},
                {"index": "monitor-events-*"}, completeness=0.83),
        _result("CHK-17", "No insecure services into the CDE", ["1.2.6"], "pass", s, half,
                "no cleartext service seen (evaluated for the first half of the day only)",
                {"evaluated": 60}, {"index": "monitor-events-*"}),
        _result("CHK-21", "Unique administrator IDs", ["8.2.1"], "pass", s, half,
                "no generic account used", {"evaluated": 2}, {"index": "monitor-events-*"}),
        _result("CHK-21", "Unique administrator IDs", ["8.2.1"], "pass", half, e,
                "no generic account used", {"evaluated": 2}, {"index": "monitor-events-*"}),
    ]


def inputs() -> ReportInputs:
    """The fixed catalogue, control metadata and waivers of this data set."""
    catalogue = (
        Requirement("1.2.2", "Changes to NSC configurations are approved", ("CHK-01", "CHK-02")),
        Requirement("1.2.3", "An accurate network diagram is maintained", (),
                    "diagram file age in the policy repo"),
        Requirement("1.2.6", "Security features for insecure services in use", ("CHK-17",)),
        Requirement("1.2.8", "NSC configuration files are secured and consistent", ("CHK-02",)),
        Requirement("1.3.1", "Inbound CDE traffic is restricted", ("CHK-14",)),
        Requirement("1.3.3", "NSCs between wireless networks and the CDE", ("CHK-31",)),
        Requirement("1.4.4", "CHD storage not reachable from untrusted networks", ("CHK-16",)),
        Requirement("6.2.3.1", "Code reviewed by someone other than the author", ("CHK-04",)),
        Requirement("6.5.1", "Changes follow the change procedure", ("CHK-01", "CHK-04", "CHK-05")),
        Requirement("8.2.1", "All users have a unique ID", ("CHK-21",)),
        Requirement("10.4.1", "Audit logs reviewed at least daily", ("CHK-26",)),
        Requirement("12.10.1", "An incident response plan exists", (),
                    "IR plan file commit age; assessor judgement"),
    )
    controls = {
        "CHK-01": ControlMeta("CHK-01", "Policy installs match approved Git changes",
                              "Every Publish / Install Policy audit event maps to a merged PR "
                              "with an independent approval and passing checks.",
                              "Deploy policy only through the pipeline; attach the commit SHA "
                              "to the management session.", ("checkpoint.audit",)),
        "CHK-02": ControlMeta("CHK-02", "No out-of-band firewall changes",
                              "Human SmartConsole changes on Git-managed layers without a "
                              "ticket or commit id.",
                              "Revert or import the change through a pull request; restrict "
                              "SmartConsole write access.", ("checkpoint.audit",)),
        "CHK-14": ControlMeta("CHK-14", "Inbound CDE traffic on the allow-list",
                              "Accepted inbound flows into CDE zones whose service is not on "
                              "the zone's allow-list.",
                              "Remove or justify the rule that accepted the flow.",
                              ("checkpoint.firewall",)),
        "CHK-26": ControlMeta("CHK-26", "Daily review ledger",
                              "A review run exists for every day of the period.",
                              "Check that the daemon's report job runs daily.", ()),
    }
    waivers = (
        Waiver("W-7", "CHK-04", "Emergency fix during incident INC0042 " + PAYLOADS["script"],
               "ciso@example.com", datetime(2026, 11, 20, tzinfo=UTC)),
        Waiver("W-9", "CHK-05", "Flaky integration test accepted until the runner upgrade",
               PAYLOADS["handler"], datetime(2026, 12, 31, tzinfo=UTC)),
    )
    waivers += (Waiver("EXC-3", "rules R-CLEARTEXT; source.ip=10.1.0.9",
                       "Legacy terminal migration, ticket CHG0009999", "jane.doe (CISO)",
                       datetime(2027, 1, 31, tzinfo=UTC), kind="finding"),)
    return ReportInputs(framework=FRAMEWORK, framework_version="4.0.1", catalogue=catalogue,
                        controls=controls, waivers=waivers, daemon_version="0.1.0-test",
                        rulepack_version="fixture-1", scope_gateways=("gw-cde-1", "gw-edge-1"),
                        scope_repositories=("fw-policy",),
                        notes=("fixture data set: " + PAYLOADS["template"],))


async def seed(store: Store) -> None:
    result = await BulkWriter(store).write(documents(), refresh=True)
    assert not result.dead_letter_reasons, result.dead_letter_reasons  # nothing rejected
    await store.es.indices.refresh(index=f"{store.names.prefix}-*")
