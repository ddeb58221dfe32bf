"""Pure judgement: aggregation responses (evidence) → ``ControlResult``. No I/O, no clock.

    evaluate_control(control, evidence, period, now, framework) -> ControlResult
    source_coverage(source, response, period, now) -> Coverage
    judge_check(check, responses, params, period, lookup=None) -> CheckOutcome

Status rules, in order:

1. ``mode: manual`` → ``manual`` (the evidence note says what an assessor looks at).
2. Any check proves a violation → ``fail`` (a violation seen is real even if data has gaps).
3. A required inventory value is empty, a data source's coverage is below its minimum, or a
   check could not be judged → ``insufficient_data``. Missing or gappy data is never ``pass``.
4. Every check had nothing to evaluate → ``not_applicable`` (``when_empty`` can say otherwise).
5. Otherwise ``pass``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..model import ControlResult, ControlStatus
from .controls import (
    Check,
    ClockSkew,
    Control,
    EachPresent,
    MaxAge,
    NoMatches,
    Ratio,
    Reconcile,
    Retention,
    Source,
    Streak,
)
from .queries import SHA_RE, Period, duration, iso, ms, skew_interval_minutes, window_of

__all__ = [
    "FRAMEWORK",
    "CheckOutcome",
    "Coverage",
    "Evidence",
    "evaluate_control",
    "judge_check",
    "reconcile_refs",
    "source_coverage",
]

FRAMEWORK = "pci-dss-4.0.1"
_MAX_LISTED = 50


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of the period a data source covers, in its own bucket size."""

    source: str
    interval: str
    expected: int
    present: int
    documents: int
    gaps: tuple[tuple[str, str], ...] = ()
    min_coverage: float = 1.0

    @property
    def ratio(self) -> float:
        return 1.0 if self.expected == 0 else self.present / self.expected

    @property
    def complete(self) -> bool:
        return self.expected > 0 and self.ratio >= self.min_coverage

    def as_dict(self) -> dict[str, Any]:
        return {"interval": self.interval, "expected_buckets": self.expected,
                "buckets_with_data": self.present, "documents": self.documents,
                "coverage": round(self.ratio, 4), "min_coverage": self.min_coverage,
                "complete": self.complete, "gaps": [list(g) for g in self.gaps[:_MAX_LISTED]],
                "gap_count": len(self.gaps)}


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    name: str
    type: str
    status: ControlStatus
    reason: str
    evaluated: int = 0
    failed: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    queries: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "status": self.status.value,
                "reason": self.reason, "evaluated": self.evaluated, "failed": self.failed,
                "details": self.details, "queries": list(self.queries)}


@dataclass(slots=True)
class Evidence:
    """What gather.py collected for one control in one period."""

    coverage: dict[str, Coverage] = field(default_factory=dict)
    outcomes: list[CheckOutcome] = field(default_factory=list)
    missing_inventory: list[str] = field(default_factory=list)
    inventory_sha256: str | None = None


# -- coverage -----------------------------------------------------------------------------------

def _expected_keys(period: Period, interval: str, now: datetime,
                   present: set[int] | None = None) -> list[int]:
    """Bucket keys that should hold data: every finished bucket of the period, plus a bucket
    still filling at ``now`` if it already has data (an in-progress day is judged on what has
    elapsed; a bucket that has not started is never expected)."""
    step = int(duration(interval).total_seconds() * 1000)
    start, end, now_ms = ms(period.start), ms(min(period.end, now)), ms(now)
    key = start - (start % step)
    keys = []
    while key < end:
        if key + step <= now_ms or (present is not None and key in present):
            keys.append(key)
        key += step
    return keys


def _gaps(missing: list[int], step: int) -> tuple[tuple[str, str], ...]:
    runs: list[list[int]] = []
    for key in sorted(missing):
        if runs and runs[-1][1] == key:
            runs[-1][1] = key + step
        else:
            runs.append([key, key + step])
    return tuple((_iso_ms(a), _iso_ms(b)) for a, b in runs)


def _iso_ms(value: float) -> str:
    return iso(datetime.fromtimestamp(value / 1000, UTC))


def source_coverage(source: Source, response: dict[str, Any], period: Period,
                    now: datetime) -> Coverage:
    step = int(duration(source.interval).total_seconds() * 1000)
    present = {int(b["key"]) for b in response.get("aggregations", {}).get("buckets", {})
               .get("buckets", []) if b.get("doc_count", 0) > 0}
    expected = _expected_keys(period, source.interval, now, present)
    missing = [k for k in expected if k not in present]
    return Coverage(source.name, source.interval, len(expected), len(expected) - len(missing),
                    _total(response), _gaps(missing, step), source.min_coverage)


# -- checks -------------------------------------------------------------------------------------

def _total(response: dict[str, Any]) -> int:
    total = response.get("hits", {}).get("total", 0)
    return int(total.get("value", 0) if isinstance(total, dict) else total)


def _empty(check: Check, name: str, what: str, queries: tuple[dict[str, Any], ...]) -> CheckOutcome:
    status = ControlStatus(check.when_empty)
    return CheckOutcome(name, check.type, status, f"{name}: {what}", queries=queries)


def _ids(hit_block: dict[str, Any] | None) -> list[str]:
    if not hit_block:
        return []
    return [h["_id"] for h in hit_block.get("hits", {}).get("hits", [])]


def reconcile_refs(check: Reconcile, response: dict[str, Any], params: dict[str, Any]
                   ) -> dict[str, list[str]]:
    """Reference value (session description etc.) → the SHAs and tickets found in it."""
    ticket = re.compile(params.get("ticket_pattern") or r"\b(CHG|INC|RFC)\d{5,}\b")
    out: dict[str, list[str]] = {}
    for bucket in response.get("aggregations", {}).get("refs", {}).get("buckets", []):
        text = bucket["key"]["ref"]
        if text is None:
            continue
        found = [m.group(0).lower() for m in SHA_RE.finditer(str(text).lower())
                 if any(c.isalpha() for c in m.group(0)) or len(m.group(0)) >= 12]
        found += [m.group(0) for m in ticket.finditer(str(text))]
        out[str(text)] = sorted(set(found))
    return out


def judge_check(check: Check, responses: list[dict[str, Any]], params: dict[str, Any],
                period: Period, queries: tuple[dict[str, Any], ...] = (),
                lookup: dict[str, Any] | None = None, now: datetime | None = None
                ) -> CheckOutcome:
    """One check's verdict. ``now`` (default: period end) bounds what may be expected of an
    in-progress period: buckets not yet finished are not required, ages count up to ``now``."""
    name = check.name
    now = now or period.end
    window = window_of(check, period)
    first = responses[0] if responses else {}
    if isinstance(check, NoMatches):
        total = _total(first)
        violations = first.get("aggregations", {}).get("violations", {})
        count = int(violations.get("doc_count", 0))
        groups = [{"key": b["key"], "count": b["doc_count"],
                   "first_seen": b.get("first_seen", {}).get("value_as_string"),
                   "last_seen": b.get("last_seen", {}).get("value_as_string"),
                   "samples": _ids(b.get("samples"))}
                  for b in violations.get("groups", {}).get("buckets", [])]
        details = {"population": total, "violations": count, "max_allowed": check.max,
                   "groups": groups, "samples": _ids(violations.get("samples")),
                   "first_seen": violations.get("first_seen", {}).get("value_as_string"),
                   "last_seen": violations.get("last_seen", {}).get("value_as_string"),
                   "window": [iso(window.start), iso(window.end)]}
        if count > check.max:
            return CheckOutcome(name, check.type, ControlStatus.failed,
                                f"{name}: {count} violating document(s) of {total} (allowed {check.max})",
                                total, count, details, queries)
        if total == 0:
            outcome = _empty(check, name, "nothing to evaluate in the window", queries)
            return CheckOutcome(outcome.name, outcome.type, outcome.status, outcome.reason, 0, 0,
                                details, queries)
        return CheckOutcome(name, check.type, ControlStatus.passed,
                            f"{name}: 0 violations in {total} document(s)", total, count, details,
                            queries)
    if isinstance(check, EachPresent):
        from .queries import substitute
        expected = substitute(check.expected, params, period)
        expected = [str(e) for e in (expected if isinstance(expected, list) else [expected])]
        buckets = {str(b["key"]): b for b in first.get("aggregations", {}).get("groups", {})
                   .get("buckets", [])}
        per_value: dict[str, Any] = {}
        failed = 0
        evaluated = 0
        if check.interval:
            step = int(duration(check.interval).total_seconds() * 1000)
            for value in expected:
                have = {int(b["key"]) for b in buckets.get(value, {}).get("buckets", {})
                        .get("buckets", []) if b["doc_count"] > 0}
                keys = _expected_keys(window, check.interval, now, have)
                missing = [k for k in keys if k not in have]
                evaluated += len(keys)
                failed += len(missing)
                per_value[value] = {"buckets_expected": len(keys),
                                    "buckets_missing": len(missing),
                                    "gaps": [list(g) for g in _gaps(missing, step)[:_MAX_LISTED]]}
        else:
            for value in expected:
                count = int(buckets.get(value, {}).get("doc_count", 0))
                evaluated += 1
                failed += 0 if count else 1
                per_value[value] = {"documents": count}
        silent = sorted(v for v, d in per_value.items()
                        if d.get("buckets_missing", 0) or d.get("documents", 1) == 0)
        details = {"field": check.field, "interval": check.interval, "values": per_value,
                   "silent": silent, "window": [iso(window.start), iso(window.end)]}
        if not expected:
            return CheckOutcome(name, check.type, ControlStatus.insufficient_data,
                                f"{name}: no expected values (inventory empty)", 0, 0, details,
                                queries)
        if failed:
            return CheckOutcome(name, check.type, ControlStatus.failed,
                                f"{name}: missing for {', '.join(silent[:10])}"
                                f"{' …' if len(silent) > 10 else ''}", evaluated, failed, details,
                                queries)
        return CheckOutcome(name, check.type, ControlStatus.passed,
                            f"{name}: present for all {len(expected)}", evaluated, 0, details,
                            queries)
    if isinstance(check, MaxAge):
        aggs = first.get("aggregations", {})
        last = aggs.get("last", {}).get("value")
        details = {"max_age_days": check.max_age_days, "latest_ids": _ids(aggs.get("latest")),
                   "last_seen": aggs.get("last", {}).get("value_as_string")}
        if last is None:
            return CheckOutcome(name, check.type, ControlStatus.failed,
                                f"{name}: none found", 1, 1, details, queries)
        age = (ms(min(period.end, now)) - float(last)) / 86_400_000
        details["age_days"] = round(age, 3)
        if age > check.max_age_days:
            return CheckOutcome(name, check.type, ControlStatus.failed,
                                f"{name}: latest is {age:.1f} days old (max {check.max_age_days})",
                                1, 1, details, queries)
        return CheckOutcome(name, check.type, ControlStatus.passed,
                            f"{name}: latest is {age:.1f} days old", 1, 0, details, queries)
    if isinstance(check, Ratio):
        numerator, denominator = _total(responses[0]), _total(responses[1])
        details = {"numerator": numerator, "denominator": denominator, "min": check.min,
                   "max": check.max}
        if denominator == 0:
            outcome = _empty(check, name, "denominator is 0", queries)
            return CheckOutcome(outcome.name, outcome.type, outcome.status, outcome.reason, 0, 0,
                                details, queries)
        ratio = numerator / denominator
        details["ratio"] = round(ratio, 6)
        bad = (check.min is not None and ratio < check.min) or \
            (check.max is not None and ratio > check.max)
        text = f"{name}: ratio {ratio:.4f} ({numerator}/{denominator})"
        return CheckOutcome(name, check.type, ControlStatus.failed if bad else ControlStatus.passed,
                            text, denominator, 1 if bad else 0, details, queries)
    if isinstance(check, Reconcile):
        refs = reconcile_refs(check, first, params)
        approved: set[str] = set()
        for values in (lookup or {}).get("aggregations", {}).values():
            approved.update(str(b["key"]) for b in values.get("buckets", []))
        approved_lower = {a.lower() for a in approved}
        rows = []
        unmatched = 0
        total = _total(first)
        for bucket in first.get("aggregations", {}).get("refs", {}).get("buckets", []):
            text = bucket["key"]["ref"]
            found = refs.get(str(text), []) if text is not None else []
            hits = [r for r in found if r in approved or any(
                a.startswith(r) for a in approved_lower if SHA_RE.fullmatch(r))]
            row = {"reference": text, "refs": found, "matched": hits, "count": bucket["doc_count"],
                   "first_seen": bucket.get("first_seen", {}).get("value_as_string"),
                   "last_seen": bucket.get("last_seen", {}).get("value_as_string"),
                   "samples": _ids(bucket.get("samples"))}
            rows.append(row)
            if not hits:
                unmatched += bucket["doc_count"]
        details = {"events": total, "unmatched_events": unmatched,
                   "unmatched": [r for r in rows if not r["matched"]][:_MAX_LISTED],
                   "matched": [r for r in rows if r["matched"]][:_MAX_LISTED]}
        if total == 0:
            outcome = _empty(check, name, "no events to reconcile", queries)
            return CheckOutcome(outcome.name, outcome.type, outcome.status, outcome.reason, 0, 0,
                                details, queries)
        if unmatched:
            return CheckOutcome(name, check.type, ControlStatus.failed,
                                f"{name}: {unmatched} of {total} event(s) match no approved change",
                                total, unmatched, details, queries)
        return CheckOutcome(name, check.type, ControlStatus.passed,
                            f"{name}: all {total} event(s) match an approved change", total, 0,
                            details, queries)
    if isinstance(check, Streak):
        window_ms = check.window_minutes * 60_000
        violations = []
        keys = first.get("aggregations", {}).get("keys", {}).get("buckets", [])
        for key in keys:
            minutes = sorted(key["minutes"]["buckets"], key=lambda b: b["key"])
            recent: list[tuple[int, int]] = []
            for bucket in minutes:
                at = int(bucket["key"])
                outcome = bucket["outcome"]["buckets"]
                fails = int(outcome["failure"]["doc_count"])
                successes = int(outcome["success"]["doc_count"])
                recent = [(t, n) for t, n in recent if t > at - window_ms]
                prior = sum(n for _, n in recent)
                if successes and prior >= check.threshold:
                    violations.append({"key": key["key"], "success_at": _iso_ms(at),
                                       "failures_before": prior})
                    recent = []
                    continue
                if fails:
                    recent.append((at, fails))
        failed_keys = sorted({v["key"] for v in violations})
        details = {"threshold": check.threshold, "window_minutes": check.window_minutes,
                   "keys": len(keys), "violations": violations[:_MAX_LISTED]}
        if not keys:
            outcome = _empty(check, name, "no authentication events", queries)
            return CheckOutcome(outcome.name, outcome.type, outcome.status, outcome.reason, 0, 0,
                                details, queries)
        if violations:
            return CheckOutcome(name, check.type, ControlStatus.failed,
                                f"{name}: success after ≥{check.threshold} failures for "
                                f"{', '.join(map(str, failed_keys[:10]))}", len(keys),
                                len(failed_keys), details, queries)
        return CheckOutcome(name, check.type, ControlStatus.passed,
                            f"{name}: no success after a failure streak ({len(keys)} accounts)",
                            len(keys), 0, details, queries)
    if isinstance(check, Retention):
        oldest = first.get("aggregations", {}).get("oldest", {}).get("value")
        required = period.end - timedelta(days=check.min_days)
        go_live = params.get("go_live")
        details = {"oldest": _iso_ms(oldest) if oldest is not None else None,
                   "required_oldest_before": iso(required), "go_live": go_live,
                   "documents": _total(first)}
        if oldest is None:
            return CheckOutcome(name, check.type, ControlStatus.insufficient_data,
                                f"{name}: no documents at all", 0, 0, details, queries)
        ok = oldest <= ms(required)
        if not ok and go_live:
            live = datetime.fromisoformat(go_live).replace(tzinfo=UTC) + timedelta(days=1)
            ok = oldest <= ms(live)
        text = f"{name}: oldest document {details['oldest']}"
        return CheckOutcome(name, check.type, ControlStatus.passed if ok else ControlStatus.failed,
                            text + ("" if ok else f", newer than {iso(required)} and go-live"),
                            1, 0 if ok else 1, details, queries)
    if isinstance(check, ClockSkew):
        tolerance = check.tolerance_seconds * 1000
        width = skew_interval_minutes(window) * 60_000
        future = []
        buckets = 0
        for key in first.get("aggregations", {}).get("keys", {}).get("buckets", []):
            for minute in key["minutes"]["buckets"]:
                buckets += 1
                latest = minute["latest"].get("value")
                if latest is not None and latest > minute["key"] + width + tolerance:
                    future.append({"key": key["key"], "ingested_minute": _iso_ms(minute["key"]),
                                   "latest_event_time": _iso_ms(latest),
                                   "ahead_seconds": round((latest - minute["key"] - width) / 1000, 1)})
        details = {"tolerance_seconds": check.tolerance_seconds, "minute_buckets": buckets,
                   "future_dated": future[:_MAX_LISTED]}
        if buckets == 0:
            outcome = _empty(check, name, "no events with event.ingested", queries)
            return CheckOutcome(outcome.name, outcome.type, outcome.status, outcome.reason, 0, 0,
                                details, queries)
        if future:
            keys = sorted({str(f["key"]) for f in future})
            return CheckOutcome(name, check.type, ControlStatus.failed,
                                f"{name}: future-dated events from {', '.join(keys[:10])}",
                                buckets, len(future), details, queries)
        return CheckOutcome(name, check.type, ControlStatus.passed,
                            f"{name}: no future-dated events", buckets, 0, details, queries)
    raise TypeError(f"unknown check type {type(check).__name__}")


# -- control ------------------------------------------------------------------------------------

def evaluate_control(control: Control, evidence: Evidence, period: Period, now: datetime,
                     framework: str = FRAMEWORK) -> ControlResult:
    """Combine check outcomes and source coverage into the control's status for the period."""
    coverage = {name: evidence.coverage[name] for name in control.data_sources
                if name in evidence.coverage}
    completeness = min((c.ratio for c in coverage.values()), default=1.0)
    incomplete = [c for c in coverage.values() if not c.complete]
    not_collected = [name for name in control.data_sources if name not in evidence.coverage]
    outcomes = evidence.outcomes
    counts = {"evaluated": sum(o.evaluated for o in outcomes),
              "failed": sum(o.failed for o in outcomes), "checks": len(outcomes)}
    counts["passed"] = max(counts["evaluated"] - counts["failed"], 0)
    body: dict[str, Any] = {
        "checks": [o.as_dict() for o in outcomes],
        "sources": {name: c.as_dict() for name, c in sorted(coverage.items())},
        "pass_criteria": control.pass_criteria,
        "evidence_shown": control.evidence,
    }
    if evidence.inventory_sha256:
        body["inventory_sha256"] = evidence.inventory_sha256
    if evidence.missing_inventory:
        body["missing_inventory"] = sorted(evidence.missing_inventory)

    def result(status: ControlStatus, reason: str) -> ControlResult:
        return ControlResult(control_id=control.id, control_name=control.name,
                             requirements=tuple(control.requirements), status=status,
                             period_start=period.start, period_end=period.end, evaluated_at=now,
                             reason=reason, counts=counts, evidence=body,
                             completeness=round(completeness, 4), framework=framework)

    if control.mode == "manual":
        return result(ControlStatus.manual, f"manual: {control.evidence}")
    failed = [o for o in outcomes if o.status == ControlStatus.failed]
    if failed:
        return result(ControlStatus.failed, "; ".join(o.reason for o in failed))
    problems: list[str] = []
    if evidence.missing_inventory:
        problems.append("inventory lacks " + ", ".join(sorted(evidence.missing_inventory)))
    for name in not_collected:
        problems.append(f"source {name} not measured")
    for cov in incomplete:
        if cov.present == 0:
            problems.append(f"source {cov.source} has no data in the period")
        else:
            first_gap = cov.gaps[0] if cov.gaps else ("?", "?")
            problems.append(f"source {cov.source} covers {cov.present}/{cov.expected} "
                            f"{cov.interval} buckets (first gap {first_gap[0]}–{first_gap[1]})")
    problems += [o.reason for o in outcomes if o.status == ControlStatus.insufficient_data]
    if not outcomes and not problems:
        problems.append("no check ran")
    if problems:
        return result(ControlStatus.insufficient_data, "; ".join(problems))
    if all(o.status == ControlStatus.not_applicable for o in outcomes):
        return result(ControlStatus.not_applicable, "; ".join(o.reason for o in outcomes))
    return result(ControlStatus.passed, "; ".join(o.reason for o in outcomes
                                                   if o.status == ControlStatus.passed))
