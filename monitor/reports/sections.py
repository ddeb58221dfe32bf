"""Pure: Elasticsearch answers and control rows → the report's sections (no I/O, no clock).

Status rules live here (see ``gather.py``'s docstring for the list): ``control_status``,
``requirement_status``, the window roll-up, waivers; and the change-control matcher (a commit
SHA in the management session name/description, else a ticket id found in both).
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..inventory.reconcile import Policy, change_from_source, install_from_source, match
from ..model import get_field, rollup_status
from .data import (
    STATUSES,
    ChangeControl,
    ChangeRecord,
    ControlReport,
    DeadLetters,
    FindingRow,
    Gap,
    MatchedChange,
    ReportPoint,
    RequirementReport,
    RuleCount,
    StateRow,
    StatusChange,
    Summary,
    Threats,
    TimelineBucket,
    WaiverRow,
    worst,
)
from .inputs import ReportInputs, Waiver, parse_time
from .period import Period, iso
from .values import _counts, _natural, _sample, _strings, _text

__all__ = [
    "change_records",
    "control_status",
    "dead_letters",
    "history",
    "requirement_status",
    "requirements",
    "rollup",
    "rule_window_gaps",
    "source_gaps",
    "state_rows",
    "summary",
    "threats",
    "waiver_rows",
    "waivers_for",
]

_SYSTEM_ADMINS = {"system", "scheduled system update"}
_SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def source_gaps(buckets: list[tuple[datetime, int]], interval_s: int, period: Period,
                now: datetime, min_gap_s: int) -> tuple[Gap, ...]:
    """Runs of empty histogram buckets at least ``min_gap_s`` long, clipped to the period and
    to ``now`` (a period still running is not silent in its future)."""
    horizon = min(period.end, now)
    gaps: list[Gap] = []
    run_start: datetime | None = None
    for start, count in sorted(buckets) + [(horizon, 1)]:
        if start >= horizon and count == 0:
            continue
        if count == 0 and run_start is None:
            run_start = max(start, period.start)
        elif count > 0 and run_start is not None:
            end = min(start, horizon)
            if (end - run_start).total_seconds() >= min_gap_s:
                gaps.append(Gap(run_start, end, int((end - run_start).total_seconds())))
            run_start = None
    return tuple(gaps)


def control_status(evaluated: str, completeness: float | None, gapped_sources: list[str],
                   waivers: list[Waiver], period: Period) -> tuple[str, list[str]]:
    """Final status of a control and the reasons it differs from what the evaluator said."""
    notes: list[str] = []
    status = evaluated
    if status == "pass" and completeness is not None and completeness < 1.0:
        status = "insufficient_data"
        notes.append(f"data completeness {completeness:.1%} < 100%: missing data is never a pass")
    if status == "pass" and gapped_sources:
        status = "insufficient_data"
        notes.append("source silent during the period: " + ", ".join(sorted(gapped_sources)))
    active = [w for w in waivers if w.expires is None or w.expires >= period.end]
    expired = [w for w in waivers if w.expires is not None and w.expires < period.end]
    if status == "waived":
        if not active:
            status = "fail"
            if expired:
                notes.append("waiver " + ", ".join(f"{w.id} expired {iso(w.expires)}"
                                                   for w in expired if w.expires)
                             + ": an expired waiver counts as a failure")
            else:
                notes.append("marked waived but no waiver is on file: counts as a failure")
    elif status == "fail" and active:
        status = "waived"
        notes.append("failure accepted by waiver " + ", ".join(w.id for w in active))
    elif status == "fail" and expired:
        notes.append("waiver " + ", ".join(w.id for w in expired) + " expired: failure stands")
    return status, notes


def requirement_status(control_statuses: list[str]) -> str:
    return rollup_status(control_statuses).value


def waivers_for(waivers: Iterable[Waiver], control: str, requirements: Iterable[str]) -> list[Waiver]:
    targets = {control, *requirements}
    return [w for w in waivers if w.kind == "control" and w.target in targets]


def rollup(windows: dict[str, int]) -> str:
    return worst([s for s, n in windows.items() if n > 0], default="insufficient_data")


def requirements(inputs: ReportInputs, controls: list[ControlReport]) -> list[RequirementReport]:
    by_id = {c.id: c for c in controls}
    reported: dict[str, set[str]] = {}
    for control in controls:
        for requirement in control.requirements:
            reported.setdefault(requirement, set()).add(control.id)
    catalogue = {r.id: r for r in inputs.catalogue}
    out: list[RequirementReport] = []
    for req_id in sorted(set(catalogue) | set(reported), key=_natural):
        entry = catalogue.get(req_id)
        ids = sorted(set(entry.controls if entry else ()) | reported.get(req_id, set()), key=_natural)
        statuses = [(cid, by_id[cid].status if cid in by_id else "manual") for cid in ids]
        status = requirement_status([s for _, s in statuses])
        evidence = sum(by_id[c].evidence_count for c in ids if c in by_id)
        times = [t for c in ids if c in by_id and (t := by_id[c].last_evaluated)]
        reason = ""
        if entry is None:
            reason = "not in the requirements catalogue (reported by a control)"
        elif status == "manual" and not entry.manual:
            reason = "no automated control: assessor judgement needed"
        out.append(RequirementReport(
            id=req_id, title=entry.title if entry else "", status=status,
            controls=tuple(statuses), evidence_count=evidence,
            last_evidence=max(times) if times else None,
            manual=entry.manual if entry else "", reason=reason))
    return out


def change_records(answer: dict[str, Any], changes: list[dict[str, Any]],
                   policy: Policy | None = None) -> ChangeControl:
    """The period's configuration changes, each judged by ``inventory/reconcile.match`` (the
    out-of-band rule's and CHK-01's verdict) against ``changes``: candidate change hits
    (``_id`` and ``_source``) or bare sources."""
    policy = policy if policy is not None else Policy()
    docs: dict[str, dict[str, Any]] = {}
    for n, item in enumerate(changes):
        source = item.get("_source", item) if isinstance(item.get("_source"), dict) else item
        docs[str(item.get("_id") or f"change-{n}")] = source
    candidates = [change_from_source(i, d) for i, d in docs.items()]
    records: list[ChangeRecord] = []
    for hit in answer["hits"]["hits"]:
        src = hit["_source"]
        cp = src.get("checkpoint", {}) if isinstance(src.get("checkpoint"), dict) else {}
        admin = _text(cp.get("administrator") or get_field(src, "user.name"))
        session = _text(cp.get("session_name"))
        description = _text(cp.get("session_description"))
        install = install_from_source(str(hit.get("_id")), src)
        verdict = match(install, candidates, policy)
        matched_doc, tier = None, verdict.tier
        if verdict.ok:  # the latest of the changes that account for it
            latest = max((c for c in candidates if c.id in verdict.matched),
                         key=lambda c: (c.time, c.id))
            matched_doc = docs[latest.id]
        if admin.lower() in _SYSTEM_ADMINS or description in ("Global Domain Assignment",):
            classification = "system"
        elif matched_doc is not None:
            classification = "matched"
        elif install.tickets:
            classification = "ticket_only"  # names a ticket no approved change accounts for
        else:
            classification = "out_of_band"
        records.append(ChangeRecord(
            time=parse_time(src.get("@timestamp")), gateway=_text(get_field(src, "observer.name")),
            administrator=admin, operation=_text(cp.get("operation")),
            object=_text(cp.get("objectname") or get_field(src, "rule.name")),
            session=session, description=description,
            client=_text(cp.get("product") or get_field(src, "observer.product")),
            outcome=_text(cp.get("audit_status") or get_field(src, "event.outcome")),
            classification=classification, match_tier=tier if matched_doc else "",
            matched=_matched(matched_doc) if matched_doc else None,
            event_id=_text(hit.get("_id"))))
    total = int(answer["hits"]["total"]["value"])
    counts = {k: sum(1 for r in records if r.classification == k)
              for k in ("matched", "ticket_only", "out_of_band", "system")}
    return ChangeControl(total=total, shown=len(records), matched=counts["matched"],
                         ticket_only=counts["ticket_only"], out_of_band=counts["out_of_band"],
                         system=counts["system"], records=tuple(records), query="")


def _matched(doc: dict[str, Any]) -> MatchedChange:
    change = doc.get("change", {})
    pr = change.get("pull_request") or {}
    pr_text = ""
    if isinstance(pr, dict) and (pr.get("number") or pr.get("url")):
        pr_text = f"#{pr.get('number')}" if pr.get("number") is not None else ""
        if pr.get("title"):
            pr_text += f" {pr['title']}"
    deployment = change.get("deployment") or {}
    dep_text = ""
    if isinstance(deployment, dict) and deployment:
        dep_text = " ".join(_text(deployment.get(k)) for k in ("id", "status")
                            if deployment.get(k))
        if change.get("environment"):
            dep_text += f" → {change['environment']}"
    return MatchedChange(repo=_text(change.get("repo")), branch=_text(change.get("branch"), 200),
                         sha=_text(change.get("sha")),
                         subject=_text(change.get("subject"), 200), pull_request=_text(pr_text),
                         approvers=tuple(_text(a, 100) for a in _strings(change.get("approvers"))),
                         independent_approval=change.get("independent_approval"),
                         checks_passed=change.get("checks_passed"), deployment=dep_text,
                         time=parse_time(doc.get("@timestamp")))


def threats(answer: dict[str, Any], interval: str) -> Threats:
    aggs = answer.get("aggregations") or {}
    if not aggs:
        return Threats(0, (), (), (), (), (), (), interval, ())
    severity = tuple(sorted(_counts(aggs["severity"]),
                            key=lambda c: (_SEVERITY_ORDER.get(c.key, 9), c.key)))
    rules = []
    for bucket in aggs["rules"]["buckets"]:
        names = bucket["name"]["buckets"]
        sev = bucket["severity"]["buckets"]
        rules.append(RuleCount(str(bucket["key"]), str(names[0]["key"]) if names else "",
                               str(sev[0]["key"]) if sev else "", int(bucket["doc_count"])))
    timeline = tuple(
        TimelineBucket(parse_time(b["key_as_string"]) or datetime.min,
                       tuple(sorted(((str(s["key"]), int(s["doc_count"]))
                                     for s in b["severity"]["buckets"]),
                                    key=lambda p: _SEVERITY_ORDER.get(p[0], 9))))
        for b in aggs["timeline"]["buckets"])
    top: list[FindingRow] = []
    for hit in answer["hits"]["hits"]:
        src = hit["_source"]
        group = get_field(src, "finding.group", {})
        top.append(FindingRow(
            id=_text(get_field(src, "finding.id") or hit["_id"]), time=parse_time(src.get("@timestamp")),
            rule_id=_text(get_field(src, "rule.id")), rule_name=_text(get_field(src, "rule.name")),
            severity=_text(get_field(src, "rule.severity")), status=_text(get_field(src, "finding.status")),
            count=int(get_field(src, "finding.count", 0) or 0),
            group=_sample(group).fields if isinstance(group, dict) and group else (),
            exception=_text(get_field(src, "finding.exception"))))
    return Threats(total=int(answer["hits"]["total"]["value"]), by_severity=severity,
                   by_status=_counts(aggs["status"]), by_rule=tuple(rules),
                   top_sources=_counts(aggs["sources"]), top_targets=_counts(aggs["targets"]),
                   timeline=timeline, timeline_interval=interval, top_findings=tuple(top))


def state_rows(answer: dict[str, Any]) -> tuple[StateRow, ...]:
    rows = []
    for hit in answer["hits"]["hits"]:
        src = hit["_source"]
        rows.append(StateRow(kind=_text(src.get("kind")), key=_text(src.get("key")),
                             updated_at=parse_time(src.get("updated_at")),
                             detail=_text(src.get("value") or {}, 400)))
    return tuple(rows)


def rule_window_gaps(answer: dict[str, Any], period: Period, now: datetime) -> tuple[StateRow, ...]:
    """Threat rules whose searched window stops before the end of the period (or before ``now``
    for a running period): the period was not fully evaluated by them at report time."""
    horizon = min(period.end, now)
    rows = []
    for hit in answer["hits"]["hits"]:
        src = hit["_source"]
        value = src.get("value") if isinstance(src.get("value"), dict) else {}
        searched_to = parse_time(value.get("searched_to"))
        if searched_to is not None and searched_to >= horizon:
            continue
        missing = "never searched" if searched_to is None else (
            f"searched to {iso(searched_to)}, "
            f"{int((horizon - max(searched_to, period.start)).total_seconds()) // 60} min of the "
            "period not evaluated")
        rows.append(StateRow(kind="rule window behind", key=_text(src.get("key")),
                             updated_at=parse_time(src.get("updated_at")),
                             detail=f"{missing}; last success {_text(value.get('last_success'))}"))
    return tuple(rows)


def rules_learning(answer: dict[str, Any]) -> tuple[StateRow, ...]:
    """Threat rules that, at their last run, lacked the history their question needs (cold
    start): they raise nothing meanwhile, so the auditor sees which questions were not asked."""
    rows = []
    for hit in answer["hits"]["hits"]:
        src = hit["_source"]
        value = src.get("value") if isinstance(src.get("value"), dict) else {}
        if not value.get("learning"):
            continue
        until = parse_time(value.get("learning_until"))
        detail = ("history not indexed yet: no findings before "
                  f"{iso(until)}" if until else "no data of its own indexed yet")
        rows.append(StateRow(kind="rule learning", key=_text(src.get("key")),
                             updated_at=parse_time(src.get("updated_at")),
                             detail=f"{detail}; searched to {_text(value.get('searched_to'))}"))
    return tuple(rows)


def dead_letters(answer: dict[str, Any]) -> DeadLetters:
    aggs = answer.get("aggregations") or {}
    latest = tuple(_sample({"time": h["_source"].get("@timestamp"),
                            **(h["_source"].get("deadletter") or {})})
                   for h in answer["hits"]["hits"])
    return DeadLetters(total=int(answer["hits"]["total"]["value"]),
                       by_source=_counts(aggs.get("source", {})),
                       by_stage=_counts(aggs.get("stage", {})), latest=latest)


def history(answer: dict[str, Any]) -> list[tuple[ReportPoint, dict[str, str]]]:
    seen: set[str] = set()
    out: list[tuple[ReportPoint, dict[str, str]]] = []
    for hit in answer["hits"]["hits"]:
        report = hit["_source"].get("report", {})
        label = str(report.get("label") or report.get("id") or hit["_id"])
        if label in seen:
            continue
        seen.add(label)
        statuses = {}
        for item in _strings(report.get("statuses")):
            key, _, value = item.partition("=")
            statuses[key] = value
        score = report.get("score")
        out.append((ReportPoint(label=label, end=parse_time(report.get("end")),
                                score=float(score) if score is not None else None,
                                status=str(report.get("status") or "")), statuses))
    return out


def summary(requirements: list[RequirementReport], controls: list[ControlReport],
             history: list[tuple[ReportPoint, dict[str, str]]], label: str,
             end: datetime) -> Summary:
    req_counts = {s: 0 for s in STATUSES}
    for r in requirements:
        req_counts[r.status] += 1
    ctl_counts = {s: 0 for s in STATUSES}
    for c in controls:
        ctl_counts[c.status] += 1
    scored = req_counts["pass"] + req_counts["fail"] + req_counts["insufficient_data"]
    score = round(100.0 * req_counts["pass"] / scored, 1) if scored else None
    overall = worst([r.status for r in requirements if r.status != "manual"], default="manual")
    headline = {
        "fail": "Not compliant: at least one requirement failed",
        "insufficient_data": "Not verified: some requirements could not be checked for lack of data",
        "waived": "Passed with waivers: failures were accepted by waivers",
        "pass": "All automatically checked requirements passed",
        "not_applicable": "No automated requirement applied in this period",
        "manual": "No automated verdict: every requirement needs an assessor",
    }[overall]
    failing = [r for r in requirements if r.status in ("fail", "insufficient_data")]
    failing.sort(key=lambda r: (0 if r.status == "fail" else 1,
                                -sum(1 for _, s in r.controls if s == "fail"), _natural(r.id)))
    previous = history[0] if history else None
    changes: list[StatusChange] = []
    delta = None
    if previous is not None:
        before = previous[1]
        for r in requirements:
            if r.id in before and before[r.id] != r.status:
                changes.append(StatusChange(r.id, before[r.id], r.status))
            elif r.id not in before and before:
                changes.append(StatusChange(r.id, "(absent)", r.status))
        if previous[0].score is not None and score is not None:
            delta = round(score - previous[0].score, 1)
    trend = [p for p, _ in reversed(history)]
    trend.append(ReportPoint(label=label, end=end, score=score, status=overall))
    return Summary(status=overall, headline=headline, score=score,
                   requirement_counts=tuple((s, req_counts[s]) for s in STATUSES),
                   control_counts=tuple((s, ctl_counts[s]) for s in STATUSES),
                   top_failing=tuple(failing[:10]), previous=previous[0] if previous else None,
                   score_delta=delta, changes=tuple(changes), trend=tuple(trend))


def waiver_rows(inputs: ReportInputs, controls: list[ControlReport], period: Period,
                exception_counts: dict[str, int] | None = None) -> tuple[WaiverRow, ...]:
    rows = []
    for w in inputs.waivers:
        if w.kind == "finding":
            n = (exception_counts or {}).get(w.id, 0)
            applied: tuple[str, ...] = (f"{n} finding(s) in the period",)
        else:
            applied = tuple(c.id for c in controls
                            if c.id == w.target or w.target in c.requirements)
        state = "no_expiry" if w.expires is None else (
            "expired" if w.expires < period.end else "active")
        rows.append(WaiverRow(id=w.id, target=w.target, justification=w.justification,
                              approver=w.approver, expires=w.expires, state=state,
                              applied_to=applied, kind=w.kind))
    return tuple(rows)
