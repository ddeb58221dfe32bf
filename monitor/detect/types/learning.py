"""Cold start: a rule whose question needs history answers only where the data has it.

``new_terms`` asks "never seen in ``history``", ``flatline`` "seen within ``history``, silent
now", ``spike`` "more than ``factor`` × the ``reference`` before". On a fresh install (or a new
source) the index holds less than that, and every first login looks new, every reference empty.
Such a rule is *learning* until the earliest indexed document of its own data (its query, no
time bound) lies a full history span before the moment judged; meanwhile it raises no finding
and says so (``EvalStats.learning``: rule id → when it will have learnt, or ``None`` with no
data at all).

The earliest document is one ``min`` aggregation, asked in the rule's first search step and
cached per evaluation once it covers the history (it only gets older).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from ..compile import base_query
from ..schema import Rule
from .base import Ctx, Gen, Search, aggs, to_dt

__all__ = ["covered", "history_span", "oldest_gen"]


def history_span(rule: Rule) -> timedelta | None:
    """How much indexed history the rule's question needs before the moment judged."""
    if rule.new_terms is not None:
        return rule.new_terms.history
    if rule.flatline is not None:
        return rule.flatline.history
    if rule.spike is not None:
        return rule.spike.window + rule.spike.reference
    return None


def oldest_gen(ctx: Ctx) -> Gen:
    """The earliest document of the rule's data (``None``: none yet), cached in ``ctx.cache``."""
    span = history_span(ctx.rule)
    cached = ctx.cache.get(ctx.rule.id) if ctx.cache is not None else None
    if cached is not None and span is not None and cached <= ctx.start - span:
        return cached
    body = {"size": 0, "track_total_hits": False, "query": base_query(ctx.rule),
            "aggs": {"oldest": {"min": {"field": "@timestamp"}}}}
    (response,) = yield [Search(ctx.rule.index, body)]
    value = aggs(response).get("oldest", {}).get("value")
    oldest = to_dt(value) if value is not None else None
    if ctx.cache is not None and oldest is not None:
        ctx.cache[ctx.rule.id] = oldest
    return oldest


def covered(ctx: Ctx, at: datetime) -> bool:
    """Whether the history the rule needs before ``at`` is indexed; if not, note when it will
    be (``ctx.status["learning_until"]``) so the engine reports the rule as learning."""
    span = history_span(ctx.rule)
    if span is None:
        return True
    oldest = ctx.status.get("oldest")
    if oldest is not None and oldest <= at - span:
        return True
    until = oldest + span if oldest is not None else None
    known = ctx.status.get("learning_until", "unset")
    if known == "unset" or (known is not None and until is not None and until > known):
        ctx.status["learning_until"] = until
    return False
