"""``reconcile``: every event (an install or publish) is accounted for by an approved change.

The verdict is ``inventory/reconcile.match``, the one the out-of-band rule and the report's
change-control section use: a SHA or ticket named in ``field`` (or the same deploy identity
within two hours) of an approved change, in a repository the inventory maps to the event's
management server, merged or deployed before the event and at most
``changes_lookback_days`` before it. Two rounds: ``requests`` reads the period's events (bounded
documents); ``followup`` fetches their candidate changes (``candidate_query``); ``judge`` matches
each event and groups the rows by reference text."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from ...identifiers import references as shared_references
from ...inventory.reconcile import (
    INSTALL_IDENTITY_FIELD,
    INSTALL_ORIGIN_FIELD,
    Install,
    Policy,
    Verdict,
    approved_query,
    candidate_query,
    change_from_source,
    install_from_source,
    match,
    policy_from_params,
    repos_query,
)
from ...model import ControlStatus
from ..controls import Reconcile
from ..queries import Period, bool_filter, samples, substitute, time_range, window_of
from .base import MAX_LISTED, CheckOutcome, Judging, Request, empty, hit_ids, total

__all__ = ["followup", "installs", "judge", "references", "requests"]

#: installs (distinct reference text, origin, identity and second) judged per check and
#: period; the events beyond are counted as not judged, never as passed
MAX_INSTALLS = 1000
#: candidate changes read for them
MAX_CANDIDATES = 10_000


def _policy(check: Reconcile, params: dict[str, Any]) -> Policy:
    return policy_from_params(params, max_change_age=timedelta(days=check.changes_lookback_days))


def _sources(check: Reconcile) -> list[str]:
    return [*check.fields, INSTALL_ORIGIN_FIELD, INSTALL_IDENTITY_FIELD]


def requests(check: Reconcile, params: dict[str, Any], period: Period) -> list[Request]:
    """The period's events grouped by (reference fields, origin, identity, second): the
    installs the out-of-band rule reads too."""
    window = window_of(check, period)
    query = substitute(check.query, params, period)
    return [(check.kind, {"query": bool_filter(time_range(window), query), "aggs": {"refs": {
        "composite": {"size": MAX_INSTALLS, "sources": [
            {f"ref{i}": {"terms": {"field": f, "missing_bucket": True}}}
            for i, f in enumerate(_sources(check))] + [
            {"t": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1s"}}}]},
        "aggs": samples(3)}}})]


def _buckets(response: dict[str, Any]) -> list[dict[str, Any]]:
    return list(response.get("aggregations", {}).get("refs", {}).get("buckets", []))


def _values(check: Reconcile, bucket: dict[str, Any]) -> dict[str, Any]:
    return {f: bucket["key"].get(f"ref{i}") for i, f in enumerate(_sources(check))}


def _text(check: Reconcile, values: dict[str, Any]) -> str | None:
    """The event's reference texts joined (``None`` when every field is missing)."""
    parts = [str(values[f]) for f in check.fields if values.get(f) is not None]
    return " | ".join(parts) if parts else None


def installs(check: Reconcile, response: dict[str, Any]) -> list[Install]:
    out = []
    for n, bucket in enumerate(_buckets(response)):
        values = _values(check, bucket)
        out.append(install_from_source(f"i{n}", {**values, "@timestamp": bucket["key"]["t"]},
                                       check.fields))
    return out


def followup(check: Reconcile, responses: list[dict[str, Any]], params: dict[str, Any],
             period: Period) -> Request | None:
    """Second round: the candidate changes of the period's installs."""
    policy = _policy(check, params)
    body = candidate_query(installs(check, responses[0]), policy,
                           [approved_query(), repos_query(policy),
                            substitute(check.changes_query, params, period)], MAX_CANDIDATES)
    return ("changes", body) if body is not None else None


def references(check: Reconcile, response: dict[str, Any], params: dict[str, Any]
               ) -> dict[str, list[str]]:
    """Reference texts (session name | description) → the SHAs and tickets found in them, by
    ``identifiers.references``: the out-of-band rule's extraction, so both agree."""
    out: dict[str, list[str]] = {}
    for bucket in _buckets(response):
        parts = [str(v) for k, v in sorted(bucket["key"].items())
                 if k.startswith("ref") and v is not None]
        text = _text(check, _values(check, bucket)) if "t" in bucket["key"] else (
            " | ".join(parts) if parts else None)
        if text is not None:
            shas, tickets = shared_references([text])
            out[text] = sorted(set(shas) | set(tickets))
    return out


def _rows(check: Reconcile, first: dict[str, Any], lookup: dict[str, Any],
          params: dict[str, Any]) -> tuple[list[dict[str, Any]], int, int]:
    """Rows by (reference text, verdict), the unmatched events and the events judged."""
    policy = _policy(check, params)
    changes = [change_from_source(str(h.get("_id")), h.get("_source") or {})
               for h in lookup.get("hits", {}).get("hits", [])]
    rows: dict[tuple[str | None, bool], dict[str, Any]] = {}
    unmatched = judged = 0
    for bucket, install in zip(_buckets(first), installs(check, first), strict=True):
        verdict: Verdict = match(install, changes, policy)
        text = _text(check, _values(check, bucket))
        moment = install.time.isoformat().replace("+00:00", "Z")
        count = int(bucket["doc_count"])
        row = rows.setdefault((text, verdict.ok), {
            "reference": text, "refs": sorted(set(install.refs)), "matched": [],
            "changes": [], "identities": [], "origins": [], "reason": verdict.reason,
            "count": 0, "first_seen": moment,
            "last_seen": moment, "samples": []})
        row["count"] += count
        # who made it, and where: what an auditor asks first about an unmatched change
        row["identities"] = sorted({*row["identities"], *filter(None, [install.identity])})
        row["origins"] = sorted({*row["origins"], *filter(None, [install.origin])})
        row["first_seen"] = min(row["first_seen"], moment)
        row["last_seen"] = max(row["last_seen"], moment)
        if verdict.ok:
            row["matched"] = sorted({*row["matched"], *install.refs} or {verdict.tier})
            row["changes"] = sorted({*row["changes"], *verdict.matched})
        else:
            unmatched += count
        judged += count
        row["samples"] = (row["samples"] + hit_ids(bucket.get("samples")))[:3]
    return list(rows.values()), unmatched, judged


def judge(check: Reconcile, responses: list[dict[str, Any]], ctx: Judging) -> CheckOutcome:
    name, first = check.name, responses[0]
    lookup = responses[1] if len(responses) > 1 else {}
    rows, unmatched, judged = _rows(check, first, lookup, ctx.params)
    events = total(first)
    unmatched += max(0, events - judged)  # beyond the bound: not judged, so not passed
    details = {"events": events, "unmatched_events": unmatched,
               "unmatched": [r for r in rows if not r["matched"]][:MAX_LISTED],
               "matched": [r for r in rows if r["matched"]][:MAX_LISTED]}
    if events > judged:
        details["not_judged"] = events - judged
    if events == 0:
        return empty(check, "no events to reconcile", details, ctx)
    if unmatched:
        return CheckOutcome(name, check.type, ControlStatus.failed,
                            f"{name}: {unmatched} of {events} event(s) match no approved change",
                            events, unmatched, details, ctx.queries)
    return CheckOutcome(name, check.type, ControlStatus.passed,
                        f"{name}: all {events} event(s) match an approved change", events, 0,
                        details, ctx.queries)
