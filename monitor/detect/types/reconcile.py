"""``reconcile``: every event of kind A (the rule's query, e.g. a Publish / Install Policy audit
event) must match an approved, tested change B (``reconcile.b``); unmatched A events are findings
(out-of-band changes).

1. A events of ``[start, end)`` as a composite over (key, text fields, identity, second), paged;
2. one search on B with a ``filters`` aggregation, two filters per A event:
   * exact: a SHA (7-40 hex, prefix of ``b_sha_field``) or a ticket found in A's text fields
     (session name / description), e.g. ``git:fw-policy@3f2a9c1 CHG0887797``;
   * fallback: a B document within ``window`` of A by the same pipeline identity.
"""
from __future__ import annotations

from datetime import timedelta

from ...identifiers import references
from ..compile import base_query, bool_filter, composite_sources, key_filter, scope, time_range
from .base import PAGE, Ctx, Draft, Gen, Search, aggs, bucket_start, composite_all, to_dt

_CLOCK_TOLERANCE = timedelta(minutes=1)


def tokens(texts: list[str]) -> tuple[list[str], list[str]]:
    """The SHAs and tickets in A's texts: ``identifiers.references``, the one extraction the
    rule, CHK-01 and the report share."""
    return references(texts)


def run(ctx: Ctx) -> Gen:
    rule = ctx.rule
    p = rule.reconcile
    assert p is not None
    fields = [p.a_key, *p.a_text_fields] + ([p.a_identity_field] if p.a_identity_field else [])
    query = bool_filter(*scope(rule, ctx.start, ctx.end))

    def body(after: dict | None) -> dict:
        comp: dict = {"size": PAGE, "sources": composite_sources(fields) + [
            {"t": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1s"}}}]}
        if after:
            comp["after"] = after
        return {"size": 0, "track_total_hits": False, "query": query,
                "aggs": {"g": {"composite": comp}}}

    buckets = yield from composite_all(rule.index, body)
    records = []
    for b in buckets:
        values = {f: b["key"].get(f"k{i}") for i, f in enumerate(fields)}
        if values[p.a_key] is None:
            continue
        texts = [str(values[f]) for f in p.a_text_fields if values[f] is not None]
        records.append((values, to_dt(b["key"]["t"]), *tokens(texts), b["doc_count"]))
    if not records:
        return []
    b_base = base_query(rule.model_copy(update={"query": p.b.query, "query_dsl": p.b.query_dsl}))
    filters: dict = {}
    for i, (values, at, shas, tickets, _) in enumerate(records):
        should = [{"prefix": {p.b_sha_field: s}} for s in shas]
        should += [{"term": {p.b_ticket_field: t}} for t in tickets]
        if should:  # bound: merged/deployed before the install, not older than the limit
            filters[f"x{i}"] = {"bool": {"should": should, "minimum_should_match": 1,
                                         "filter": [time_range(at - p.max_change_age,
                                                               at + _CLOCK_TOLERANCE)]}}
        ident = values.get(p.a_identity_field) if p.a_identity_field else None
        if ident is not None and p.b_identity_field:
            filters[f"y{i}"] = bool_filter({"term": {p.b_identity_field: ident}},
                                           time_range(at - p.window, at + p.window))
    matched: dict[str, int] = {}
    b_body = {"size": 0, "track_total_hits": False, "query": b_base,
              "aggs": {"m": {"filters": {"filters": filters or {"none": {"match_none": {}}}}}}}
    if filters:
        (response,) = yield [Search(p.b.index, b_body)]
        matched = {k: v["doc_count"]
                   for k, v in (aggs(response).get("m") or {"buckets": {}})["buckets"].items()}
    width = rule.suppress_window
    drafts = []
    for i, (values, at, shas, tickets, count) in enumerate(records):
        if matched.get(f"x{i}", 0) or matched.get(f"y{i}", 0):
            continue
        start = bucket_start(at, width)
        group = {p.a_key: values[p.a_key]}
        reason = ("references " + ", ".join(shas + tickets) + " but no approved, tested change "
                  "has them") if shas or tickets else "no SHA or ticket in the session, and no "
        if not (shas or tickets):
            reason += ("approved change by the same pipeline identity within "
                       f"{p.window}" if p.a_identity_field else "identity fallback configured")
        drafts.append(Draft(
            group=group, window_start=start, window_end=start + width, count=count,
            first_seen=at, last_seen=at,
            evidence_range=(at, at + timedelta(seconds=1)), detection={"a": body(None),
                                                                        "b": b_body},
            extra={"reason": reason, "texts": {f: values[f] for f in p.a_text_fields},
                   "identity": values.get(p.a_identity_field) if p.a_identity_field else None}))
    return drafts


__all__ = ["run", "tokens", "key_filter"]
