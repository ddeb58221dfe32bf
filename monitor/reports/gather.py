"""Gather a :class:`ReportData` from Elasticsearch with aggregations (``gather_report``).

Round trips for one report: one ``_msearch`` with the independent questions (change events,
findings, dead letters, state rows, previous reports), a paged ``composite`` over controls,
one over event sources and one over repositories, one count-sum search, one search for the
Git changes that audit events name. Nothing downloads events.

Status rules applied here (on top of what the evaluator wrote):

* a control's period status is the worst of its evaluation windows;
* ``pass`` becomes ``insufficient_data`` when the evaluator's completeness is below 1, or when a
  source the control reads (``sources`` in its file or evidence) has a gap in the period;
* ``waived`` needs a waiver on file that had not expired by the end of the period, otherwise it
  is a ``fail``; a ``fail`` covered by an active waiver is shown as ``waived``;
* a requirement is the worst of its controls; a declared control without any result in the
  period is ``insufficient_data`` (if implemented) or ``manual`` (no control file); a
  requirement with no control is ``manual``.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from ..store import Store
from ..store.search import SearchStats, msearch, search
from . import queries as q
from .data import (STATUSES, ChangeControl, ChangeRecord, ControlReport, Count, DeadLetters,
                   FindingRow, Gap, Health, MatchedChange, Provenance, ReportData, ReportPoint,
                   RequirementReport, RuleCount, Sample, SourceHealth, StateRow, StatusChange,
                   Summary, Threats, TimelineBucket, WaiverRow, worst)
from .inputs import ReportInputs, Waiver, parse_time
from .period import Period, iso

__all__ = ["gather_report", "source_gaps", "control_status", "requirement_status"]

_SHA = re.compile(r"\b[0-9a-f]{7,40}\b")
_TICKET = re.compile(r"\b(?:[A-Z][A-Z0-9]{1,9}-\d{1,7}|[A-Z]{2,5}\d{5,})\b")
_SYSTEM_ADMINS = {"system", "scheduled system update"}
_SAMPLE_KEYS = ("samples", "sample", "items", "events", "unmatched", "violations", "records")
_REF_KEYS = ("refs", "evidence_refs", "sample_ids", "ids")
_TEXT_LIMIT = 300


async def composite_buckets(store: Store, kind: str, query: dict[str, Any],
                            sources: list[dict[str, Any]], *, aggs: dict[str, Any] | None = None,
                            page_size: int = 100, what: str = "",
                            stats: SearchStats | None = None):
    """Every bucket of a composite aggregation, paged by ``after_key`` (counted in ``stats``)."""
    after: dict[str, Any] | None = None
    while True:
        composite: dict[str, Any] = {"size": page_size, "sources": sources}
        if after is not None:
            composite["after"] = after
        agg: dict[str, Any] = {"composite": composite}
        if aggs:
            agg["aggs"] = aggs
        answer = await search(store, kind, {"size": 0, "track_total_hits": False,
                                            "query": query, "aggs": {"c": agg}}, stats=stats)
        result = (answer.get("aggregations") or {}).get("c") or {}
        buckets = result.get("buckets", [])
        for bucket in buckets:
            yield bucket
        after = result.get("after_key")
        if not buckets or after is None or len(buckets) < page_size:
            return


def _get(doc: dict[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, dict) and dotted in node:
            return node[dotted]
        else:
            return default
    return node


def _text(value: Any, limit: int = _TEXT_LIMIT) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        value = ", ".join(_text(v, limit) for v in value)
    elif isinstance(value, dict):
        value = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _sample(entry: Any) -> Sample:
    if isinstance(entry, dict):
        flat: list[tuple[str, str]] = []

        def walk(prefix: str, node: Any) -> None:
            if isinstance(node, dict) and node:
                for key in sorted(node, key=str):
                    walk(f"{prefix}.{key}" if prefix else str(key), node[key])
            else:
                flat.append((prefix, _text(node)))

        walk("", entry)
        return Sample(tuple(flat[:20]))
    return Sample((("value", _text(entry)),))


# -- sources and gaps -------------------------------------------------------------------------

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


async def _event_sources(store: Store, period: Period, now: datetime,
                         stats: SearchStats) -> list[SourceHealth]:
    interval = q.histogram_interval(period)
    step = q.interval_seconds(interval)
    out: list[SourceHealth] = []
    async for bucket in composite_buckets(store, "events", q.event_source_query(period),
                                          q.event_source_fields(),
                                          aggs=q.event_source_aggs(period, interval),
                                          page_size=20, what="report: event sources",
                                          stats=stats):
        dataset = bucket["key"].get("dataset") or "(no event.dataset)"
        observer = bucket["key"].get("observer") or "(no observer.name)"
        last = parse_time(bucket["last"].get("value_as_string") or bucket["last"].get("value"))
        hist = [(parse_time(b["key_as_string"]) or period.start, int(b["doc_count"]))
                for b in bucket["period"]["h"]["buckets"]]
        hist = [(t, c) for t, c in hist if period.start <= t < period.end]
        in_period = int(bucket["period"]["doc_count"])
        # a source that logged in at least half of the hours (or coarser buckets) is
        # "continuous": any silence of one bucket and at least 1 h is a gap; sparse sources
        # (audit logs) only count silences of a day or more.
        coarse = max(step, 3600)
        slots: dict[int, int] = {}
        for moment, count in hist:
            slot = int((moment - period.start).total_seconds()) // coarse
            slots[slot] = slots.get(slot, 0) + count
        continuous = bool(slots) and sum(1 for c in slots.values() if c > 0) >= len(slots) / 2
        min_gap = max(step, 3600) if continuous else 86400
        if in_period == 0:
            horizon = min(period.end, now)
            gaps = (Gap(period.start, horizon, int((horizon - period.start).total_seconds())),) \
                if horizon > period.start else ()
        else:
            gaps = source_gaps(hist, step, period, now, min_gap)
        out.append(SourceHealth(kind="events", name=f"{dataset} @ {observer}", dataset=dataset,
                                observer=observer, events_in_period=in_period, last_event=last,
                                gaps=gaps, gap_seconds=sum(g.seconds for g in gaps),
                                bucket=interval, continuous=continuous))
    return out


async def _change_sources(store: Store, period: Period, stats: SearchStats) -> list[SourceHealth]:
    out: list[SourceHealth] = []
    async for bucket in composite_buckets(
            store, "changes", q.event_source_query(period),
            [{"repo": {"terms": {"field": "change.repo", "missing_bucket": True}}}],
            aggs=q.change_source_aggs(period), page_size=100, what="report: change sources",
            stats=stats):
        repo = bucket["key"].get("repo") or "(no change.repo)"
        last = parse_time(bucket["last"].get("value_as_string") or bucket["last"].get("value"))
        out.append(SourceHealth(kind="changes", name=repo, dataset="changes", observer=repo,
                                events_in_period=int(bucket["period"]["doc_count"]),
                                last_event=last, gaps=(), gap_seconds=0, bucket="",
                                continuous=False))
    return out


# -- controls and requirements ----------------------------------------------------------------

def _waiver_for(waivers: Iterable[Waiver], control: str, requirements: Iterable[str]) -> list[Waiver]:
    targets = {control, *requirements}
    return [w for w in waivers if w.target in targets]


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
    automated = [s for s in control_statuses if s != "manual"]
    if not automated:
        return "manual"
    if all(s == "waived" for s in automated):
        return "waived"
    if all(s == "not_applicable" for s in automated):
        return "not_applicable"
    return worst([s for s in automated if s != "not_applicable"] or automated)


def _evidence_parts(evidence: dict[str, Any], source_datasets: dict[str, str]
                    ) -> tuple[tuple[Sample, ...], tuple[str, ...], str, str, tuple[str, ...]]:
    """Samples, references, the re-runnable query text, index and sources of one result.

    Understands the compliance evaluator's shape (``checks[]`` with ``queries`` and
    ``details``, ``sources`` keyed by source name) and a flat one (``query``, ``samples``).
    """
    samples: list[Sample] = []
    refs: list[str] = []
    queries: list[str] = []
    for check in evidence.get("checks") or []:
        if not isinstance(check, dict):
            continue
        queries.append(f"// check {_text(check.get('name'))} ({_text(check.get('type'))}): "
                       f"{_text(check.get('status'))} — {_text(check.get('reason'), 500)}")
        for query in check.get("queries") or []:
            queries.append(json.dumps(query, sort_keys=True, indent=2, ensure_ascii=False,
                                      default=str))
        details = check.get("details") if isinstance(check.get("details"), dict) else {}
        for key in ("unmatched", "groups", "violations", "values", "streaks", "items"):
            value = details.get(key)
            if isinstance(value, list) and value and len(samples) < 10:
                samples.extend(_sample(v) for v in value[: 10 - len(samples)])
        for key in ("samples", "latest_ids"):
            if isinstance(details.get(key), list):
                refs.extend(_text(v, 200) for v in details[key][:10])
    for key in _SAMPLE_KEYS:
        value = evidence.get(key)
        if isinstance(value, list) and len(samples) < 10:
            samples.extend(_sample(v) for v in value[: 10 - len(samples)])
            break
    for key in _REF_KEYS:
        value = evidence.get(key)
        if isinstance(value, list):
            refs.extend(_text(v, 200) for v in value[:20])
    query = evidence.get("query")
    if isinstance(query, (dict, list)):
        queries.append(json.dumps(query, sort_keys=True, indent=2, ensure_ascii=False, default=str))
    elif query:
        queries.append(str(query))
    index = str(evidence.get("index") or evidence.get("indices") or "")
    sources = evidence.get("sources") or evidence.get("data_sources") or ()
    names = list(sources) if isinstance(sources, (list, dict)) else []
    datasets = tuple(source_datasets.get(str(n), str(n)) for n in names)
    return tuple(samples), tuple(refs[:30]), "\n".join(queries), index, datasets


def _coverage(bucket: dict[str, Any], period: Period) -> float | None:
    """Share of the period covered by the control's evaluation windows (None: not measurable)."""
    spans = bucket.get("spans", {})
    if spans.get("sum_other_doc_count"):
        return None
    cursor, covered = period.start, 0.0
    windows = []
    for b in spans.get("buckets", []):
        start = parse_time(b.get("key_as_string") or b.get("key"))
        end = parse_time(b["end"].get("value_as_string") or b["end"].get("value"))
        if start and end:
            windows.append((start, end))
    for start, end in sorted(windows):
        start = max(start, cursor)
        if end > start:
            covered += (end - start).total_seconds()
            cursor = end
    return covered / max(period.seconds, 1.0)


async def _controls(store: Store, period: Period, inputs: ReportInputs,
                    sources: list[SourceHealth], stats: SearchStats) -> list[ControlReport]:
    rows: dict[str, dict[str, Any]] = {}
    async for bucket in composite_buckets(store, "compliance",
                                          q.compliance_query(period, inputs.framework),
                                          q.compliance_sources(), aggs=q.compliance_aggs(),
                                          page_size=10, what="report: control results",
                                          stats=stats):
        rows[bucket["key"]["control"]] = bucket
    count_keys: set[str] = set()
    for bucket in rows.values():
        hits = bucket["latest"]["hits"]["hits"]
        counts = _get(hits[0]["_source"], "control.counts", {}) if hits else {}
        if isinstance(counts, dict):
            count_keys.update(k for k, v in counts.items() if isinstance(v, (int, float)))
    sums: dict[str, dict[str, int]] = {}
    if rows and count_keys:
        keys = sorted(count_keys)[:50]
        body = q.compliance_count_sums(period, inputs.framework, sorted(rows), keys)
        answer = await search(store, "compliance", body, stats=stats)
        for bucket in answer["aggregations"]["c"]["buckets"]:
            sums[bucket["key"]] = {k: int(bucket[k]["value"] or 0) for k in keys}

    declared: dict[str, list[str]] = {}
    for requirement in inputs.catalogue:
        for control_id in requirement.controls:
            declared.setdefault(control_id, []).append(requirement.id)

    out: list[ControlReport] = []
    for control_id in sorted(set(rows) | set(declared) | set(inputs.controls), key=_natural):
        meta = inputs.controls.get(control_id)
        bucket = rows.get(control_id)
        if bucket is None:
            implemented = meta is not None and not meta.manual
            evaluated = "insufficient_data" if implemented else "manual"
            reason = ("no result in the period: the control did not run or wrote nothing"
                      if implemented else "no automated implementation: assessor judgement")
            status, notes = evaluated, []
            out.append(ControlReport(
                id=control_id, name=meta.name if meta else control_id,
                requirements=tuple(sorted(declared.get(control_id, ()), key=_natural)),
                status=status, evaluated_status=evaluated, reason=reason, adjustments=(),
                description=meta.description if meta else "", remediation=meta.remediation if meta else "",
                windows=(), counts=(), evidence_count=0, completeness=None, last_evaluated=None,
                window_start=None, window_end=None, index="", query="", samples=(), refs=(),
                sources=meta.sources if meta else (), implemented=implemented))
            continue
        windows = {b["key"]: int(b["doc_count"]) for b in bucket["statuses"]["buckets"]}
        evaluated = _rollup(windows)
        bad_hits = bucket["bad"]["latest"]["hits"]["hits"]
        latest_hits = bucket["latest"]["hits"]["hits"]
        shown = (bad_hits or latest_hits)[0]["_source"]
        control = shown.get("control", {})
        evidence = control.get("evidence") if isinstance(control.get("evidence"), dict) else {}
        samples, refs, query_text, index, ev_sources = _evidence_parts(evidence,
                                                                        inputs.source_datasets)
        requirements = tuple(sorted(set(_strings(control.get("requirements")))
                                    | set(declared.get(control_id, ())), key=_natural))
        control_sources = tuple(sorted(set(meta.sources if meta else ()) | set(ev_sources)))
        hit_sources = sorted({f"{src.name} ({_dur_text(src.gap_seconds)} silent)"
                              for src in sources if src.kind == "events" and src.gaps
                              and (src.dataset in control_sources or src.name in control_sources)})
        completeness = bucket["completeness"].get("value")
        waivers = _waiver_for(inputs.waivers, control_id, requirements)
        status, notes = control_status(evaluated, completeness, hit_sources, waivers, period)
        share = _coverage(bucket, period)
        if share is not None and share < 0.999 and status in ("pass", "not_applicable"):
            status = "insufficient_data"
            notes.append(f"evaluation windows cover {share:.0%} of the period")
        counts = sums.get(control_id, {})
        evidence_count = counts.get("evaluated", counts.get("total", sum(counts.values())))
        out.append(ControlReport(
            id=control_id, name=(meta.name if meta else "") or str(control.get("name") or control_id),
            requirements=requirements, status=status, evaluated_status=evaluated,
            reason=_text(control.get("reason"), 2000), adjustments=tuple(notes),
            description=(meta.description if meta else "") or _text(evidence.get("description"), 2000),
            remediation=(meta.remediation if meta else "") or _text(evidence.get("remediation"), 2000),
            windows=tuple((s, windows[s]) for s in STATUSES if s in windows),
            counts=tuple(sorted(counts.items())), evidence_count=int(evidence_count),
            completeness=completeness,
            last_evaluated=parse_time(bucket["last"].get("value_as_string")),
            window_start=parse_time(_get(control, "period.start")),
            window_end=parse_time(_get(control, "period.end")),
            index=index or store.names.read("events"), query=query_text, samples=samples,
            refs=refs, sources=control_sources, implemented=True))
    return out


def _dur_text(seconds: int) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h {rest // 60}m" if hours else f"{rest // 60}m"


def _rollup(windows: dict[str, int]) -> str:
    return worst([s for s, n in windows.items() if n > 0], default="insufficient_data")


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)] if value else []


def _natural(text: str) -> tuple[Any, ...]:
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", text) if part)


def _requirements(inputs: ReportInputs, controls: list[ControlReport]) -> list[RequirementReport]:
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
        times = [by_id[c].last_evaluated for c in ids if c in by_id and by_id[c].last_evaluated]
        reason = ""
        if entry is None:
            reason = "not in the requirements catalogue (reported by a control)"
        elif status == "manual":
            reason = "no automated control: assessor judgement needed"
        out.append(RequirementReport(
            id=req_id, title=entry.title if entry else "", status=status,
            controls=tuple(statuses), evidence_count=evidence,
            last_evidence=max(times) if times else None,
            manual=entry.manual if entry else "", reason=reason))
    return out


# -- change control ---------------------------------------------------------------------------

def _change_records(answer: dict[str, Any], changes: list[dict[str, Any]]) -> ChangeControl:
    by_sha: dict[str, dict[str, Any]] = {}
    by_ticket: dict[str, list[dict[str, Any]]] = {}
    for doc in changes:
        change = doc.get("change", {})
        if change.get("sha"):
            by_sha.setdefault(str(change["sha"]), doc)
        for ticket in _strings(change.get("tickets")):
            by_ticket.setdefault(ticket, []).append(doc)
    records: list[ChangeRecord] = []
    for hit in answer["hits"]["hits"]:
        src = hit["_source"]
        cp = src.get("checkpoint", {}) if isinstance(src.get("checkpoint"), dict) else {}
        admin = _text(cp.get("administrator") or _get(src, "user.name"))
        session = _text(cp.get("session_name"))
        description = _text(cp.get("session_description"))
        joined = f"{session} {description}"
        matched_doc, tier = None, ""
        for sha in _SHA.findall(joined):
            matched_doc = by_sha.get(sha) or next(
                (d for full, d in sorted(by_sha.items()) if full.startswith(sha)), None)
            if matched_doc:
                tier = "sha"
                break
        if matched_doc is None:
            for ticket in _TICKET.findall(joined):
                candidates = by_ticket.get(ticket)
                if candidates:
                    matched_doc, tier = candidates[-1], "ticket"
                    break
        if admin.lower() in _SYSTEM_ADMINS or description in ("Global Domain Assignment",):
            classification = "system"
        elif matched_doc is not None:
            classification = "matched"
        else:
            classification = "out_of_band"
        records.append(ChangeRecord(
            time=parse_time(src.get("@timestamp")), gateway=_text(_get(src, "observer.name")),
            administrator=admin, operation=_text(cp.get("operation")),
            object=_text(cp.get("objectname") or _get(src, "rule.name")),
            session=session, description=description,
            client=_text(cp.get("product") or _get(src, "observer.product")),
            outcome=_text(cp.get("audit_status") or _get(src, "event.outcome")),
            classification=classification, match_tier=tier,
            matched=_matched(matched_doc) if matched_doc else None,
            event_id=_text(hit.get("_id"))))
    total = int(answer["hits"]["total"]["value"])
    counts = {k: sum(1 for r in records if r.classification == k)
              for k in ("matched", "out_of_band", "system")}
    return ChangeControl(total=total, shown=len(records), matched=counts["matched"],
                         out_of_band=counts["out_of_band"], system=counts["system"],
                         records=tuple(records), query="")


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
    return MatchedChange(repo=_text(change.get("repo")), sha=_text(change.get("sha")),
                         subject=_text(change.get("subject"), 200), pull_request=_text(pr_text),
                         approvers=tuple(_text(a, 100) for a in _strings(change.get("approvers"))),
                         independent_approval=change.get("independent_approval"),
                         checks_passed=change.get("checks_passed"), deployment=dep_text,
                         time=parse_time(doc.get("@timestamp")))


# -- threats, health, history -----------------------------------------------------------------

def _counts(agg: dict[str, Any]) -> tuple[Count, ...]:
    return tuple(Count(str(b.get("key_as_string", b["key"])), int(b["doc_count"]))
                 for b in agg.get("buckets", []))


_SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def _threats(answer: dict[str, Any], interval: str) -> Threats:
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
        group = _get(src, "finding.group", {})
        top.append(FindingRow(
            id=_text(_get(src, "finding.id") or hit["_id"]), time=parse_time(src.get("@timestamp")),
            rule_id=_text(_get(src, "rule.id")), rule_name=_text(_get(src, "rule.name")),
            severity=_text(_get(src, "rule.severity")), status=_text(_get(src, "finding.status")),
            count=int(_get(src, "finding.count", 0) or 0),
            group=_sample(group).fields if isinstance(group, dict) and group else (),
            exception=_text(_get(src, "finding.exception"))))
    return Threats(total=int(answer["hits"]["total"]["value"]), by_severity=severity,
                   by_status=_counts(aggs["status"]), by_rule=tuple(rules),
                   top_sources=_counts(aggs["sources"]), top_targets=_counts(aggs["targets"]),
                   timeline=timeline, timeline_interval=interval, top_findings=tuple(top))


def _state_rows(answer: dict[str, Any]) -> tuple[StateRow, ...]:
    rows = []
    for hit in answer["hits"]["hits"]:
        src = hit["_source"]
        rows.append(StateRow(kind=_text(src.get("kind")), key=_text(src.get("key")),
                             updated_at=parse_time(src.get("updated_at")),
                             detail=_text(src.get("value") or {}, 400)))
    return tuple(rows)


def _dead_letters(answer: dict[str, Any]) -> DeadLetters:
    aggs = answer.get("aggregations") or {}
    latest = tuple(_sample({"time": h["_source"].get("@timestamp"),
                            **(h["_source"].get("deadletter") or {})})
                   for h in answer["hits"]["hits"])
    return DeadLetters(total=int(answer["hits"]["total"]["value"]),
                       by_source=_counts(aggs.get("source", {})),
                       by_stage=_counts(aggs.get("stage", {})), latest=latest)


def _history(answer: dict[str, Any]) -> list[tuple[ReportPoint, dict[str, str]]]:
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


def _summary(requirements: list[RequirementReport], controls: list[ControlReport],
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


def _waiver_rows(inputs: ReportInputs, controls: list[ControlReport],
                 period: Period) -> tuple[WaiverRow, ...]:
    rows = []
    for w in inputs.waivers:
        applied = tuple(c.id for c in controls if c.id == w.target or w.target in c.requirements)
        state = "no_expiry" if w.expires is None else (
            "expired" if w.expires < period.end else "active")
        rows.append(WaiverRow(id=w.id, target=w.target, justification=w.justification,
                              approver=w.approver, expires=w.expires, state=state,
                              applied_to=applied))
    return tuple(rows)


# -- entry point ------------------------------------------------------------------------------

async def gather_report(store: Store, period: Period, inputs: ReportInputs, now: datetime,
                        stats: SearchStats | None = None) -> ReportData:
    """Every fact of one report, from aggregations. ``now`` is the generation time."""
    stats = stats if stats is not None else SearchStats()
    timeline = q.timeline_interval(period)
    batch = [
        ("events", q.change_events(period)),
        ("findings", q.findings_summary(period, timeline)),
        ("deadletter", q.deadletters_summary(period)),
        ("state", q.state_rows(period, q.RULE_GAP_KINDS)),
        ("state", q.state_rows(period, q.JOB_FAILURE_KINDS)),
        ("reports", q.previous_reports(inputs.framework, period.kind, period.start)),
    ]
    changes_ans, findings_ans, dead_ans, gaps_ans, jobs_ans, history_ans = await msearch(
        store, batch, stats=stats)
    sources = await _event_sources(store, period, now, stats)
    sources += await _change_sources(store, period, stats)
    sources.sort(key=lambda s: (s.kind != "events", s.name))
    controls = await _controls(store, period, inputs, sources, stats)
    requirements = _requirements(inputs, controls)

    text = " ".join(f"{_get(h['_source'], 'checkpoint.session_name', '')} "
                    f"{_get(h['_source'], 'checkpoint.session_description', '')}"
                    for h in changes_ans["hits"]["hits"])
    shas = sorted(set(_SHA.findall(text)))
    tickets = sorted(set(_TICKET.findall(text)))
    matched_docs: list[dict[str, Any]] = []
    if shas or tickets:
        body = q.changes_matching([s for s in shas if len(s) == 40],
                                  [s for s in shas if len(s) < 40], tickets)
        answer = await search(store, "changes", body, stats=stats)
        matched_docs = [h["_source"] for h in answer["hits"]["hits"]]
    change_control = _change_records(changes_ans, matched_docs)
    change_control = ChangeControl(**{**{f: getattr(change_control, f) for f in
                                         change_control.__dataclass_fields__},
                                      "query": json.dumps(q.change_events_display(period),
                                                          sort_keys=True, indent=2)})
    history = _history(history_ans)
    summary = _summary(requirements, controls, history, period.label, period.end)
    health = Health(
        ingestion_gaps=tuple((s.name, g) for s in sources for g in s.gaps),
        rule_gaps=_state_rows(gaps_ans), job_failures=_state_rows(jobs_ans),
        dead_letters=_dead_letters(dead_ans))
    provenance = Provenance(
        framework=inputs.framework, framework_version=inputs.framework_version,
        period_kind=period.kind, period_label=period.label, period_start=period.start,
        period_end=period.end, generated_at=now, daemon_version=inputs.daemon_version,
        rulepack_version=inputs.rulepack_version, index_prefix=store.names.prefix,
        scope_gateways=tuple(sorted(inputs.scope_gateways)),
        scope_repositories=tuple(sorted(inputs.scope_repositories)),
        observed_gateways=tuple(sorted({s.observer for s in sources if s.kind == "events"})),
        observed_repositories=tuple(sorted({s.name for s in sources if s.kind == "changes"})),
        sources=tuple(sources), notes=tuple(inputs.notes))
    title = (f"PCI DSS v{inputs.framework_version} compliance report — {period.kind} "
             f"{iso(period.start)[:10]} to {iso(period.end - timedelta(seconds=1))[:10]}")
    return ReportData(title=title, provenance=provenance, summary=summary,
                      requirements=tuple(requirements), controls=tuple(controls),
                      change_control=change_control, threats=_threats(findings_ans, timeline),
                      waivers=_waiver_rows(inputs, controls, period), health=health)
