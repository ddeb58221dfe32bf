"""``reconcile``: every event of kind A (the rule's query, e.g. a Publish / Install Policy audit
event) must match an approved, tested change B (``reconcile.b``); unmatched A events are findings
(out-of-band changes).

1. A events of ``[start, end)`` as a composite over (key, text fields, identity, origin,
   second), paged;
2. their candidate changes B as documents (``inventory/reconcile.candidate_queries``: a SHA
   prefix or ticket found in A's text fields, e.g. ``git:fw-policy@3f2a9c1 CHG0887797``, or the
   same pipeline identity, bounded in time), ANDed with ``reconcile.b``;
3. ``inventory/reconcile.match`` per A event: the verdict CHK-01 and the report's
   change-control section give too (approved, in a repository the inventory maps to A's
   management server, merged or deployed before A and at most ``max_change_age`` before it;
   identity fallback within ``window`` before A).
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from ...identifiers import references
from ...inventory.reconcile import (
    INSTALL_ORIGIN_FIELD,
    Install,
    Policy,
    candidate_queries,
    change_from_source,
    match,
)
from ..compile import base_query, bool_filter, composite_sources, key_filter, scope
from .base import PAGE, Ctx, Draft, Gen, Search, bucket_start, composite_all, to_dt


def tokens(texts: list[str]) -> tuple[list[str], list[str]]:
    """The SHAs and tickets in A's texts: ``identifiers.references``, the one extraction the
    rule, CHK-01 and the report share."""
    return references(texts)


def run(ctx: Ctx) -> Gen:
    rule = ctx.rule
    p = rule.reconcile
    assert p is not None
    fields = [p.a_key, *p.a_text_fields] + ([p.a_identity_field] if p.a_identity_field else [])
    fields.append(INSTALL_ORIGIN_FIELD)
    query = bool_filter(*scope(rule, ctx.start, ctx.end))

    def body(after: dict[str, Any] | None) -> dict[str, Any]:
        comp: dict[str, Any] = {"size": PAGE, "sources": composite_sources(fields) + [
            {"t": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1s"}}}]}
        if after:
            comp["after"] = after
        return {"size": 0, "track_total_hits": False, "query": query,
                "aggs": {"g": {"composite": comp}}}

    buckets = yield from composite_all(rule.index, body)
    records: list[tuple[dict[str, Any], Install, int]] = []
    for b in buckets:
        values = {f: b["key"].get(f"k{i}") for i, f in enumerate(fields)}
        if values[p.a_key] is None:
            continue
        texts = [str(values[f]) for f in p.a_text_fields if values[f] is not None]
        shas, tickets = tokens(texts)
        ident = values.get(p.a_identity_field) if p.a_identity_field else None
        origin = values.get(INSTALL_ORIGIN_FIELD)
        install = Install(id=f"a{len(records)}", time=to_dt(b["key"]["t"]),
                          origin=None if origin is None else str(origin), shas=tuple(shas),
                          tickets=tuple(tickets),
                          identity=None if ident is None or not p.b_identity_field
                          else str(ident))
        records.append((values, install, b["doc_count"]))
    if not records:
        return []
    policy = Policy(max_change_age=p.max_change_age, window=p.window,
                    repos=dict(p.repos_by_origin))
    b_base = base_query(rule.model_copy(update={"query": p.b.query, "query_dsl": p.b.query_dsl}))
    bodies = candidate_queries([install for _, install, _ in records], policy, [b_base])
    changes = []
    if bodies:
        responses = yield [Search(p.b.index, b) for b in bodies]
        changes = [change_from_source(str(h.get("_id")), h.get("_source") or {})
                   for r in responses for h in (r.get("hits") or {}).get("hits", [])]
    width = rule.suppress_window
    drafts = []
    for values, install, count in records:
        verdict = match(install, changes, policy)
        if verdict.ok:
            continue
        at = install.time
        start = bucket_start(at, width)
        drafts.append(Draft(
            group={p.a_key: values[p.a_key]}, window_start=start, window_end=start + width,
            count=count, first_seen=at, last_seen=at,
            evidence_range=(at, at + timedelta(seconds=1)),
            detection={"a": body(None), "b": bodies[0] if bodies else None},
            extra={"reason": verdict.reason,
                   "texts": {f: values[f] for f in p.a_text_fields},
                   "identity": install.identity, "origin": install.origin}))
    return drafts


__all__ = ["run", "tokens", "key_filter"]
