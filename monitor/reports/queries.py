"""Query bodies for a report, as pure functions (no I/O, no clock): one per question.

Every statistic is an aggregation; documents are fetched only where the report lists them
(latest control result per control, change events capped at ``CHANGE_LIMIT``, top findings,
latest dead letters), always with ``_source`` filtered to what is shown.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .period import Period, iso

__all__ = [
    "CHANGE_LIMIT",
    "CHANGE_OPERATIONS",
    "change_events",
    "change_source_aggs",
    "compliance_aggs",
    "compliance_count_sums",
    "compliance_sources",
    "deadletters_summary",
    "event_source_aggs",
    "event_source_fields",
    "event_source_query",
    "findings_summary",
    "histogram_interval",
    "in_period",
    "interval_seconds",
    "previous_reports",
    "state_rows",
    "timeline_interval",
]

CHANGE_OPERATIONS = ("Publish", "Install Policy", "Policy Installation", "Create Rule",
                     "Modify Rule", "Delete Rule", "Install policy")
CHANGE_LIMIT = 500
_INTERVALS = (("5m", 300), ("15m", 900), ("30m", 1800), ("1h", 3600), ("3h", 10800),
              ("6h", 21600), ("12h", 43200), ("1d", 86400), ("7d", 604800))


def interval_seconds(name: str) -> int:
    return dict(_INTERVALS)[name]


def histogram_interval(period: Period, max_buckets: int = 800) -> str:
    """Gap-detection resolution: the finest interval giving at most ``max_buckets`` buckets."""
    for name, seconds in _INTERVALS:
        if period.seconds / seconds <= max_buckets:
            return name
    return _INTERVALS[-1][0]


def timeline_interval(period: Period, max_buckets: int = 62) -> str:
    for name, seconds in _INTERVALS[3:]:
        if period.seconds / seconds <= max_buckets:
            return name
    return _INTERVALS[-1][0]


def in_period(period: Period, field: str = "@timestamp") -> dict[str, Any]:
    return {"range": {field: {"gte": iso(period.start), "lt": iso(period.end)}}}


# -- compliance --------------------------------------------------------------------------------

def compliance_query(period: Period, framework: str) -> dict[str, Any]:
    return {"bool": {"filter": [
        {"term": {"control.framework": framework}},
        {"range": {"control.period.start": {"gte": iso(period.start)}}},
        {"range": {"control.period.end": {"lte": iso(period.end)}}},
    ]}}


def compliance_sources() -> list[dict[str, Any]]:
    return [{"control": {"terms": {"field": "control.id"}}}]


def compliance_aggs() -> dict[str, Any]:
    latest = {"top_hits": {"size": 1, "sort": [{"control.evaluated_at": "desc"},
                                                 {"control.period.start": "desc"}]}}
    return {
        "statuses": {"terms": {"field": "control.status", "size": 10}},
        "completeness": {"min": {"field": "control.completeness"}},
        "last": {"max": {"field": "control.evaluated_at"}},
        "latest": latest,
        "spans": {"terms": {"field": "control.period.start", "size": 2000,
                            "order": {"_key": "asc"}},
                  "aggs": {"end": {"max": {"field": "control.period.end"}}}},
        "bad": {"filter": {"terms": {"control.status": ["fail", "insufficient_data"]}},
                "aggs": {"latest": latest}},
    }


def compliance_count_sums(period: Period, framework: str, controls: list[str],
                          keys: list[str]) -> dict[str, Any]:
    """Sum of each ``control.counts.<key>`` per control over every window of the period."""
    query = compliance_query(period, framework)
    query["bool"]["filter"].append({"terms": {"control.id": controls}})
    return {"size": 0, "track_total_hits": False, "query": query,
            "aggs": {"c": {"terms": {"field": "control.id", "size": max(1, len(controls))},
                           "aggs": {k: {"sum": {"field": f"control.counts.{k}"}} for k in keys}}}}


# -- sources: last event and gaps -------------------------------------------------------------

def event_source_query(period: Period) -> dict[str, Any]:
    lookback = max(timedelta(days=7), period.end - period.start)
    return {"range": {"@timestamp": {"gte": iso(period.start - lookback), "lt": iso(period.end)}}}


def event_source_fields() -> list[dict[str, Any]]:
    return [{"dataset": {"terms": {"field": "event.dataset", "missing_bucket": True}}},
            {"observer": {"terms": {"field": "observer.name", "missing_bucket": True}}}]


def event_source_aggs(period: Period, interval: str) -> dict[str, Any]:
    return {
        "last": {"max": {"field": "@timestamp"}},
        "period": {"filter": in_period(period), "aggs": {"h": {"date_histogram": {
            "field": "@timestamp", "fixed_interval": interval, "min_doc_count": 0,
            "offset": "+0s",
            "extended_bounds": {"min": iso(period.start),
                                "max": iso(period.end - timedelta(milliseconds=1))}}}}},
    }


def change_source_aggs(period: Period) -> dict[str, Any]:
    return {"last": {"max": {"field": "@timestamp"}}, "period": {"filter": in_period(period)}}


# -- change control ---------------------------------------------------------------------------

_CHANGE_FIELDS = ["@timestamp", "observer.name", "observer.product", "user.name",
                  "checkpoint.administrator", "checkpoint.operation", "checkpoint.objectname",
                  "checkpoint.objecttype", "checkpoint.session_name",
                  "checkpoint.session_description", "checkpoint.session_uid",
                  "checkpoint.audit_status", "checkpoint.client_ip", "checkpoint.product",
                  "event.outcome", "event.id", "rule.name", "source.ip"]


def change_events(period: Period) -> dict[str, Any]:
    return {"size": CHANGE_LIMIT, "track_total_hits": True,
            "query": {"bool": {"filter": [in_period(period),
                                          {"terms": {"checkpoint.operation": list(CHANGE_OPERATIONS)}}]}},
            "sort": [{"@timestamp": "asc"}, {"event.id": {"order": "asc", "missing": "_last"}}],
            "_source": {"includes": _CHANGE_FIELDS}}


def change_events_display(period: Period) -> dict[str, Any]:
    """The re-runnable query shown to the auditor (no paging details)."""
    return {"query": change_events(period)["query"]}


# -- threats ----------------------------------------------------------------------------------

def findings_summary(period: Period, interval: str) -> dict[str, Any]:
    return {
        "size": 25, "track_total_hits": True, "query": in_period(period),
        "sort": [{"rule.risk_score": {"order": "desc", "missing": "_last"}},
                 {"finding.count": {"order": "desc", "missing": "_last"}}, {"@timestamp": "desc"},
                 {"finding.id": {"order": "asc", "missing": "_last"}}],
        "_source": {"includes": ["@timestamp", "finding.id", "finding.status", "finding.count",
                                 "finding.group", "finding.group_key", "finding.exception",
                                 "rule.id", "rule.name", "rule.severity"]},
        "aggs": {
            "severity": {"terms": {"field": "rule.severity", "size": 10}},
            "status": {"terms": {"field": "finding.status", "size": 10}},
            "exceptions": {"terms": {"field": "finding.exception", "size": 200}},
            "rules": {"terms": {"field": "rule.id", "size": 100, "order": [{"_count": "desc"},
                                                                            {"_key": "asc"}]},
                      "aggs": {"name": {"terms": {"field": "rule.name", "size": 1}},
                               "severity": {"terms": {"field": "rule.severity", "size": 1}}}},
            "sources": {"terms": {"field": "source.ip", "size": 10,
                                  "order": [{"_count": "desc"}, {"_key": "asc"}]}},
            "targets": {"terms": {"field": "destination.ip", "size": 10,
                                  "order": [{"_count": "desc"}, {"_key": "asc"}]}},
            "timeline": {"date_histogram": {
                "field": "@timestamp", "fixed_interval": interval, "min_doc_count": 0,
                "extended_bounds": {"min": iso(period.start),
                                    "max": iso(period.end - timedelta(milliseconds=1))}},
                "aggs": {"severity": {"terms": {"field": "rule.severity", "size": 10}}}},
        },
    }


# -- health -----------------------------------------------------------------------------------

def deadletters_summary(period: Period) -> dict[str, Any]:
    return {"size": 10, "track_total_hits": True, "query": in_period(period),
            "sort": [{"@timestamp": "desc"}],
            "_source": {"includes": ["@timestamp", "deadletter.source", "deadletter.reason",
                                     "deadletter.stage", "deadletter.target_index"]},
            "aggs": {"source": {"terms": {"field": "deadletter.source", "size": 20,
                                          "order": [{"_count": "desc"}, {"_key": "asc"}]}},
                     "stage": {"terms": {"field": "deadletter.stage", "size": 10,
                                         "order": [{"_count": "desc"}, {"_key": "asc"}]}}}}


#: state document kinds the report lists (rule evaluation gaps and failed jobs)
RULE_GAP_KINDS = ("rule_gap", "gap", "backfill")
JOB_FAILURE_KINDS = ("job_failure", "job_failed")


def state_rows(period: Period, kinds: tuple[str, ...], limit: int = 200) -> dict[str, Any]:
    return {"size": limit, "track_total_hits": False,
            "query": {"bool": {"filter": [{"terms": {"kind": list(kinds)}},
                                          in_period(period, "updated_at")]}},
            "sort": [{"updated_at": "asc"}, {"key": "asc"}]}


def rule_windows(limit: int = 1000) -> dict[str, Any]:
    """Every threat rule's window state (``rule-window:<id>``, written by the rule engine)."""
    return {"size": limit, "track_total_hits": False, "query": {"term": {"kind": "rule-window"}},
            "sort": [{"key": "asc"}]}


def previous_reports(framework: str, period_kind: str, before: datetime,
                     limit: int = 12) -> dict[str, Any]:
    return {"size": limit, "track_total_hits": False,
            "query": {"bool": {"filter": [{"term": {"report.framework": framework}},
                                          {"term": {"report.period": period_kind}},
                                          {"range": {"report.end": {"lte": iso(before)}}}]}},
            "sort": [{"report.end": "desc"}, {"report.generated_at": "desc"}],
            "_source": {"includes": ["report.*"]}}
