"""``reconcile``: every event's reference (SHA/ticket in ``field``) matches an approved change.

Two rounds: ``requests`` groups the events by their reference text; ``followup`` looks up the
SHAs and tickets found in those texts among the approved changes; ``judge`` compares."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from ...identifiers import SHA_MENTION
from ...identifiers import references as shared_references
from ...model import ControlStatus
from ..controls import Reconcile
from ..queries import (
    FIRST_LAST,
    Period,
    bool_filter,
    iso,
    samples,
    substitute,
    time_range,
    window_of,
)
from .base import MAX_LISTED, CheckOutcome, Judging, Request, empty, hit_ids, total

__all__ = ["followup", "judge", "references", "requests"]


def requests(check: Reconcile, params: dict[str, Any], period: Period) -> list[Request]:
    window = window_of(check, period)
    query = substitute(check.query, params, period)
    return [(check.kind, {"query": bool_filter(time_range(window), query), "aggs": {"refs": {
        "composite": {"size": 1000, "sources": [
            {f"ref{i}": {"terms": {"field": f, "missing_bucket": True}}}
            for i, f in enumerate(check.fields)]},
        "aggs": {**FIRST_LAST, **samples(3)}}}})]


def _text(key: dict[str, Any]) -> str | None:
    """The bucket's reference texts joined (``None`` when every field is missing)."""
    parts = [str(v) for k, v in sorted(key.items()) if k.startswith("ref") and v is not None]
    return " | ".join(parts) if parts else None


def references(check: Reconcile, response: dict[str, Any], params: dict[str, Any]
               ) -> dict[str, list[str]]:
    """Reference texts (session name | description) → the SHAs and tickets found in them, by
    ``identifiers.references``: the out-of-band rule's extraction, so both agree."""
    out: dict[str, list[str]] = {}
    for bucket in response.get("aggregations", {}).get("refs", {}).get("buckets", []):
        text = _text(bucket["key"])
        if text is None:
            continue
        shas, tickets = shared_references([text])
        out[text] = sorted(set(shas) | set(tickets))
    return out


def followup(check: Reconcile, responses: list[dict[str, Any]], params: dict[str, Any],
             period: Period) -> Request:
    """Second round: which referenced SHAs/tickets are approved changes."""
    refs = sorted({r for found in references(check, responses[0], params).values() for r in found})
    shas = sorted({r for r in refs if SHA_MENTION.fullmatch(r)})
    others = sorted(set(refs) - set(shas))
    should: list[dict[str, Any]] = []
    for field in check.match_fields:
        if field.endswith("sha"):
            full = [s for s in shas if len(s) == 40]
            if full:
                should.append({"terms": {field: full}})
            should.extend({"prefix": {field: s}} for s in shas if len(s) < 40)
        elif others:
            should.append({"terms": {field: others}})
    since = period.end - timedelta(days=check.changes_lookback_days)
    if not should:
        should = [{"bool": {"must_not": {"match_all": {}}}}]
    return ("changes", {
        "query": bool_filter({"range": {"@timestamp": {"gte": iso(since), "lt": iso(period.end)}}},
                             substitute(check.changes_query, params, period),
                             {"bool": {"should": should, "minimum_should_match": 1}}),
        "aggs": {field.replace(".", "_"): {"terms": {"field": field, "size": 2000}}
                 for field in check.match_fields}})


def _rows(check: Reconcile, first: dict[str, Any], lookup: dict[str, Any],
          params: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    refs = references(check, first, params)
    approved: set[str] = set()
    for values in lookup.get("aggregations", {}).values():
        approved.update(str(b["key"]) for b in values.get("buckets", []))
    approved_lower = {a.lower() for a in approved}
    rows = []
    unmatched = 0
    for bucket in first.get("aggregations", {}).get("refs", {}).get("buckets", []):
        text = _text(bucket["key"])
        found = refs.get(text, []) if text is not None else []
        hits = [r for r in found if r in approved or any(
            a.startswith(r) for a in approved_lower if SHA_MENTION.fullmatch(r))]
        rows.append({"reference": text, "refs": found, "matched": hits,
                     "count": bucket["doc_count"],
                     "first_seen": bucket.get("first_seen", {}).get("value_as_string"),
                     "last_seen": bucket.get("last_seen", {}).get("value_as_string"),
                     "samples": hit_ids(bucket.get("samples"))})
        if not hits:
            unmatched += bucket["doc_count"]
    return rows, unmatched


def judge(check: Reconcile, responses: list[dict[str, Any]], ctx: Judging) -> CheckOutcome:
    name, first = check.name, responses[0]
    lookup = responses[1] if len(responses) > 1 else {}
    rows, unmatched = _rows(check, first, lookup, ctx.params)
    events = total(first)
    details = {"events": events, "unmatched_events": unmatched,
               "unmatched": [r for r in rows if not r["matched"]][:MAX_LISTED],
               "matched": [r for r in rows if r["matched"]][:MAX_LISTED]}
    if events == 0:
        return empty(check, "no events to reconcile", details, ctx)
    if unmatched:
        return CheckOutcome(name, check.type, ControlStatus.failed,
                            f"{name}: {unmatched} of {events} event(s) match no approved change",
                            events, unmatched, details, ctx.queries)
    return CheckOutcome(name, check.type, ControlStatus.passed,
                        f"{name}: all {events} event(s) match an approved change", events, 0,
                        details, ctx.queries)
