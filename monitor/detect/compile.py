"""Pure compilation: rule + window → Elasticsearch request bodies. No I/O, no templating.

Every body uses only query DSL and core aggregations (the minimal distribution has no
painless, EQL or ES|QL); rule text reaches Elasticsearch only as a ``query_string`` value or
as the rule's own DSL mapping, never by string substitution.

Functions (all return plain dicts):

* ``base_query(rule)`` the rule's own condition (Lucene via ``query_string``, or raw DSL);
* ``time_range(start, end)`` ``@timestamp`` in ``[start, end)``;
* ``key_filter(group)`` term filters for one group key (``None`` → field missing);
* ``bool_filter(*clauses)``; ``composite_sources(fields)``;
* ``evidence_body(rule, group, start, end)`` the query an auditor re-runs for a finding;
* ``sequence_eql(rule)`` EQL text for a sequence rule whose steps all use ``where``
  (used only where ``store.capabilities`` reports EQL), else None.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from ..timefmt import iso_ms
from .schema import Rule, Step

__all__ = [
    "base_query",
    "bool_filter",
    "calendar_filter",
    "composite_sources",
    "evidence_body",
    "interval",
    "iso",
    "key_filter",
    "keys_filter",
    "scope",
    "seconds",
    "sequence_eql",
    "step_query",
    "time_range",
]


iso = iso_ms


def seconds(delta: timedelta) -> int:
    return max(1, int(delta.total_seconds()))


def interval(delta: timedelta) -> str:
    """A ``fixed_interval`` string (whole seconds)."""
    return f"{seconds(delta)}s"


def _lucene(text: str) -> dict[str, Any]:
    return {"query_string": {"query": text, "analyze_wildcard": True,
                             "default_operator": "AND"}}


def base_query(rule: Rule) -> dict[str, Any]:
    """The rule's condition, with its ``filters`` ANDed (inventory sets already expanded)."""
    if rule.filters:
        unbound = [f for f in rule.filters if isinstance(f, str)]
        if unbound:
            raise ValueError(f"rule {rule.id}: {unbound[0]} not expanded (rule not bound)")
        return bool_filter(_own_query(rule), *(f for f in rule.filters if not isinstance(f, str)))
    return _own_query(rule)


def _own_query(rule: Rule) -> dict[str, Any]:
    if rule.query_dsl is not None:
        return rule.query_dsl
    if rule.query is not None:
        return _lucene(rule.query)
    # a sequence rule without its own query: any of its steps
    assert rule.sequence is not None
    return {"bool": {"should": [step_query(s) for s in rule.sequence.steps],
                     "minimum_should_match": 1}}


def step_query(step: Step) -> dict[str, Any]:
    if step.query_dsl is not None:
        return step.query_dsl
    if step.query is not None:
        return _lucene(step.query)
    assert step.where is not None
    clauses = []
    for field, value in step.where.items():
        if isinstance(value, list):
            clauses.append({"terms": {field: value}})
        else:
            clauses.append({"term": {field: value}})
    return bool_filter(*clauses)


MAX_CALENDAR_DAYS = 400


def calendar_filter(rule: Rule, start: datetime, end: datetime) -> dict[str, Any] | None:
    """The rule's calendar as ``@timestamp`` ranges of the open windows of every local day
    touching ``[start, end)`` (DST-correct through zoneinfo); ``outside`` negates them."""
    cal = rule.calendar
    if cal is None:
        return None
    if cal.inventory and not cal.windows:
        raise ValueError(f"rule {rule.id}: calendar from the inventory, but the rule is not bound")
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(cal.timezone)
    ranges: list[dict[str, Any]] = []
    for window in cal.open_windows:
        open_s, close_s = window.hours.split("-")
        oh, om = (int(x) for x in open_s.split(":"))
        ch, cm = (int(x) for x in close_s.split(":"))
        day = start.astimezone(zone).date() - timedelta(days=1)
        last = end.astimezone(zone).date() + timedelta(days=1)
        while day <= last and len(ranges) < MAX_CALENDAR_DAYS:
            if day.isoweekday() in window.days:
                lo = datetime(day.year, day.month, day.day, oh, om, tzinfo=zone)
                hi = (datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(days=1)
                      if (ch, cm) == (24, 0) else datetime(day.year, day.month, day.day, ch, cm,
                                                             tzinfo=zone))
                if hi > lo:
                    ranges.append(time_range(lo, hi))
            day += timedelta(days=1)
    inside: dict[str, Any] = {"bool": {"should": ranges or [{"match_none": {}}],
                                       "minimum_should_match": 1}}
    return inside if cal.match == "inside" else {"bool": {"must_not": [inside]}}


def scope(rule: Rule, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The clauses every search of ``rule`` over ``[start, end)`` starts from."""
    clauses = [base_query(rule), time_range(start, end)]
    cal = calendar_filter(rule, start, end)
    if cal is not None:
        clauses.append(cal)
    return clauses


def time_range(start: datetime, end: datetime) -> dict[str, Any]:
    return {"range": {"@timestamp": {"gte": iso(start), "lt": iso(end),
                                     "format": "strict_date_optional_time"}}}


def key_filter(group: dict[str, Any]) -> list[dict[str, Any]]:
    clauses: list[dict[str, Any]] = []
    for field, value in sorted(group.items()):
        if value is None:
            clauses.append({"bool": {"must_not": {"exists": {"field": field}}}})
        else:
            clauses.append({"term": {field: value}})
    return clauses


def keys_filter(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """Documents of any of ``groups`` (a ``terms`` query when it can be one), so a per-key
    aggregation reads only the candidates' documents, not the whole window."""
    fields = {tuple(sorted(g)) for g in groups}
    if len(fields) == 1:
        (names,) = fields
        if len(names) == 1 and all(g[names[0]] is not None for g in groups):
            return {"terms": {names[0]: sorted({g[names[0]] for g in groups}, key=str)}}
    return {"bool": {"should": [bool_filter(key_filter(g)) for g in groups] or
                     [{"match_none": {}}], "minimum_should_match": 1}}


def bool_filter(*clauses: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any]:
    flat: list[dict[str, Any]] = []
    for clause in clauses:
        flat.extend(clause if isinstance(clause, list) else [clause])
    return {"bool": {"filter": flat}}


def composite_sources(fields: tuple[str, ...] | list[str], missing: bool = True
                      ) -> list[dict[str, Any]]:
    return [{f"k{i}": {"terms": {"field": field, "missing_bucket": missing}}}
            for i, field in enumerate(fields)]


def evidence_body(rule: Rule, group: dict[str, Any], start: datetime, end: datetime,
                  size: int = 5) -> dict[str, Any]:
    """Sorted, size-capped search of the events behind one finding (no source downloaded)."""
    return {"size": size, "_source": False, "track_total_hits": True,
            "sort": [{"@timestamp": "asc"}],
            "query": bool_filter(*scope(rule, start, end), key_filter(group))}


def _eql_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # EQL strings use JSON-style double-quote escaping


def _eql_field(field: str) -> str:
    return field if field.replace(".", "").replace("_", "").isalnum() else f"`{field}`"


def sequence_eql(rule: Rule) -> str | None:
    """``sequence by <group> with maxspan=<T> [any where ...] with runs=N ...`` or None."""
    if rule.sequence is None or any(s.where is None for s in rule.sequence.steps):
        return None
    parts = ["sequence"]
    if rule.group_by:
        parts.append("by " + ", ".join(_eql_field(f) for f in rule.group_by))
    parts.append(f"with maxspan={seconds(rule.sequence.within)}s")
    for step in rule.sequence.steps:
        assert step.where is not None
        conds = []
        for field, value in step.where.items():
            if isinstance(value, list):
                conds.append(f"{_eql_field(field)} in ({', '.join(_eql_value(v) for v in value)})")
            else:
                conds.append(f"{_eql_field(field)} == {_eql_value(value)}")
        runs = f" with runs={step.min_count}" if step.min_count > 1 else ""
        parts.append(f"[any where {' and '.join(conds)}]{runs}")
    return " ".join(parts)
