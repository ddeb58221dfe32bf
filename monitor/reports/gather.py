"""Gather a :class:`ReportData` from Elasticsearch with aggregations (``gather_report``).

Round trips for one report: one ``_msearch`` with the independent questions (change events,
findings, dead letters, state rows, previous reports), a paged ``composite`` over controls,
one over event sources and one over repositories, one count-sum search, one search for the
Git changes that audit events name. Nothing downloads events.

Status rules applied here (on top of what the evaluator wrote):

* a control's period status is the worst of its evaluation windows;
* ``pass`` becomes ``insufficient_data`` when the evaluator's completeness is below 1, when
  the evaluation windows do not cover the whole period, or when a (dataset, gateway) source the
  control reads (``data_sources`` in its file, ``sources`` in its evidence) was silent at least
  as long as the source's declared cadence (``interval`` in ``rules/pci/sources.yaml``, 1 h
  when unknown) — one silent gateway is enough even if its peers kept the dataset busy;
* ``waived`` needs a waiver on file that had not expired by the end of the period, otherwise it
  is a ``fail``; a ``fail`` covered by an active waiver is shown as ``waived``;
* a requirement is the worst of its controls; a declared control without any result in the
  period is ``insufficient_data`` (if implemented) or ``manual`` (no control file); a
  requirement with no control is ``manual``.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from ..inventory.reconcile import (
    Policy,
    approved_query,
    candidate_queries,
    install_from_source,
    repos_query,
)
from ..model import get_field
from ..store import Store
from ..store.search import SearchStats, composite_buckets, msearch, refresh, search
from . import queries as q
from . import sections as sec
from .data import (
    STATUSES,
    ChangeControl,
    ControlReport,
    Gap,
    Health,
    Provenance,
    ReportData,
    Sample,
    SourceHealth,
)
from .inputs import ReportInputs, parse_time
from .period import Period, iso
from .sections import control_status, requirement_status, source_gaps
from .values import _dur_text, _natural, _sample, _strings, _text

__all__ = ["control_status", "gather_report", "requirement_status", "source_gaps"]

_SAMPLE_KEYS = ("samples", "sample", "items", "events", "unmatched", "violations", "records")
_REF_KEYS = ("refs", "evidence_refs", "sample_ids", "ids")


# -- sources and gaps -------------------------------------------------------------------------


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
            if moment >= now:  # a period still running: its future is not silence
                continue
            slot = int((moment - period.start).total_seconds()) // coarse
            slots[slot] = slots.get(slot, 0) + count
        continuous = bool(slots) and sum(1 for c in slots.values() if c > 0) >= len(slots) / 2
        min_gap = max(step, 3600) if continuous else 86400
        gaps: tuple[Gap, ...]
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
            queries.append(json.dumps(query, sort_keys=True, ensure_ascii=False, default=str))
        details = check.get("details")
        if not isinstance(details, dict):
            details = {}
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
        queries.append(json.dumps(query, sort_keys=True, ensure_ascii=False, default=str))
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
    own_keys: dict[str, set[str]] = {}  # the count names each control reports
    for control_id, bucket in rows.items():
        hits = bucket["latest"]["hits"]["hits"]
        counts = get_field(hits[0]["_source"], "control.counts", {}) if hits else {}
        if isinstance(counts, dict):
            own_keys[control_id] = {k for k, v in counts.items() if isinstance(v, (int, float))}
            count_keys.update(own_keys[control_id])
    sums: dict[str, dict[str, int]] = {}
    if rows and count_keys:
        keys = sorted(count_keys)[:50]
        body = q.compliance_count_sums(period, inputs.framework, sorted(rows), keys)
        answer = await search(store, "compliance", body, stats=stats)
        for bucket in answer["aggregations"]["c"]["buckets"]:
            mine = own_keys.get(bucket["key"], set())
            sums[bucket["key"]] = {k: int(bucket[k]["value"] or 0) for k in keys if k in mine}

    declared: dict[str, list[str]] = {}
    for requirement in inputs.catalogue:
        for control_id in requirement.controls:
            declared.setdefault(control_id, []).append(requirement.id)

    out: list[ControlReport] = []
    for control_id in sorted(set(rows) | set(declared) | set(inputs.controls), key=_natural):
        meta = inputs.controls.get(control_id)
        row = rows.get(control_id)
        if row is None:
            implemented = meta is not None and not meta.manual
            evaluated = "insufficient_data" if implemented else "manual"
            reason = ("no result in the period: the control did not run or wrote nothing"
                      if implemented else "no automated implementation: assessor judgement")
            status = evaluated
            out.append(ControlReport(
                id=control_id, name=meta.name if meta else control_id,
                requirements=tuple(sorted(declared.get(control_id, ()), key=_natural)),
                status=status, evaluated_status=evaluated, reason=reason, adjustments=(),
                description=meta.description if meta else "", remediation=meta.remediation if meta else "",
                windows=(), counts=(), evidence_count=0, completeness=None, last_evaluated=None,
                window_start=None, window_end=None, index="", query="", samples=(), refs=(),
                sources=meta.sources if meta else (), implemented=implemented))
            continue
        windows = {b["key"]: int(b["doc_count"]) for b in row["statuses"]["buckets"]}
        evaluated = sec.rollup(windows)
        bad_hits = row["bad"]["latest"]["hits"]["hits"]
        latest_hits = row["latest"]["hits"]["hits"]
        shown = (bad_hits or latest_hits)[0]["_source"]
        control = shown.get("control", {})
        evidence = control.get("evidence") if isinstance(control.get("evidence"), dict) else {}
        samples, refs, query_text, index, ev_sources = _evidence_parts(evidence,
                                                                        inputs.source_datasets)
        requirements = tuple(sorted(set(_strings(control.get("requirements")))
                                    | set(declared.get(control_id, ())), key=_natural))
        control_sources = tuple(sorted(set(meta.sources if meta else ()) | set(ev_sources)))
        hit_sources = sorted({
            f"{src.name} ({_dur_text(gap.seconds)} from {iso(gap.start)})"
            for src in sources if src.kind == "events"
            and (src.dataset in control_sources or src.name in control_sources)
            for gap in src.gaps
            if gap.seconds >= inputs.source_intervals.get(src.dataset, 3600)})
        completeness = row["completeness"].get("value")
        waivers = sec.waivers_for(inputs.waivers, control_id, requirements)
        status, notes = control_status(evaluated, completeness, hit_sources, waivers, period)
        share = _coverage(row, period)
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
            last_evaluated=parse_time(row["last"].get("value_as_string")),
            window_start=parse_time(get_field(control, "period.start")),
            window_end=parse_time(get_field(control, "period.end")),
            index=index or store.names.read("events"), query=query_text, samples=samples,
            refs=refs, sources=control_sources, implemented=True))
    return out


# -- entry point ------------------------------------------------------------------------------

async def gather_report(store: Store, period: Period, inputs: ReportInputs, now: datetime,
                        stats: SearchStats | None = None) -> ReportData:
    """Every fact of one report, from aggregations. ``now`` is the generation time."""
    stats = stats if stats is not None else SearchStats()
    # rule windows are committed without waiting for a refresh (the engine reads them back
    # by id); a report rendered right after a rules run must still see them
    await refresh(store, ("state",))
    timeline = q.timeline_interval(period)
    batch = [
        ("events", q.change_events(period)),
        ("findings", q.findings_summary(period, timeline)),
        ("deadletter", q.deadletters_summary(period)),
        ("state", q.state_rows(period, q.RULE_GAP_KINDS)),
        ("state", q.state_rows(period, q.JOB_FAILURE_KINDS)),
        ("reports", q.previous_reports(inputs.framework, period.kind, period.start)),
        ("state", q.rule_windows()),
    ]
    answers = await msearch(store, batch, stats=stats)
    changes_ans, findings_ans, dead_ans, gaps_ans, jobs_ans, history_ans, windows_ans = answers
    sources = await _event_sources(store, period, now, stats)
    sources += await _change_sources(store, period, stats)
    sources.sort(key=lambda s: (s.kind != "events", s.name))
    controls = await _controls(store, period, inputs, sources, stats)
    requirements = sec.requirements(inputs, controls)

    # the one reconciliation (inventory/reconcile.py): the candidates of the period's installs,
    # judged by the same match as the out-of-band rule and CHK-01
    policy = Policy(repos=dict(inputs.change_repos))
    installs = [install_from_source(str(h.get("_id")), h["_source"])
                for h in changes_ans["hits"]["hits"]]
    candidates: list[dict[str, Any]] = []
    for body in candidate_queries(installs, policy, [approved_query(), repos_query(policy)]):
        answer = await search(store, "changes", body, stats=stats)
        candidates += answer["hits"]["hits"]
    change_control = sec.change_records(changes_ans, candidates, policy)
    change_control = ChangeControl(**{**{f: getattr(change_control, f) for f in
                                         change_control.__dataclass_fields__},
                                      "query": json.dumps(q.change_events_display(period),
                                                          sort_keys=True)})
    history = sec.history(history_ans)
    exception_counts = {str(b["key"]): int(b["doc_count"]) for b in
                        ((findings_ans.get("aggregations") or {}).get("exceptions") or {})
                        .get("buckets", [])}
    summary = sec.summary(requirements, controls, history, period.label, period.end)
    health = Health(
        ingestion_gaps=tuple((s.name, g) for s in sources for g in s.gaps),
        rule_gaps=sec.state_rows(gaps_ans) + sec.rule_window_gaps(windows_ans, period, now),
        job_failures=sec.state_rows(jobs_ans),
        dead_letters=sec.dead_letters(dead_ans),
        rules_learning=sec.rules_learning(windows_ans))
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
    first, last = iso(period.start)[:10], iso(period.end - timedelta(seconds=1))[:10]
    title = (f"PCI DSS v{inputs.framework_version} compliance report — {period.kind} "
             + (first if first == last else f"{first} to {last}"))
    return ReportData(title=title, provenance=provenance, summary=summary,
                      requirements=tuple(requirements), controls=tuple(controls),
                      change_control=change_control, threats=sec.threats(findings_ans, timeline),
                      waivers=sec.waiver_rows(inputs, controls, period, exception_counts),
                      health=health)
