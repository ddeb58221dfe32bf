"""Every metric the monitor exports, built against a ``CollectorRegistry`` passed in.

Naming follows Prometheus practice: one prefix (``monitor_``), base units in the name
(``_seconds``, ``_bytes``), counters end in ``_total``. Label values are bounded: a source
name from the settings file, a rule id from the loaded packs, a job id from the job table, a
requirement id from the framework's catalogue, a severity, an outcome. Never an address, a
user or a hash. Labelled series are created at zero when their label value becomes known
(``add_source``, ``add_rule``, ...), so ``rate()`` and ``absent()`` behave from the first scrape.

docs/metrics.md documents each metric; ``tests/daemon/test_metrics.py`` checks that every name
defined here appears there.
"""
from __future__ import annotations

import platform
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from ..model import ControlStatus, Severity

__all__ = [
    "COMPLIANCE_STATUSES",
    "ES_CLUSTER_STATUSES",
    "ES_OPERATIONS",
    "JOB_OUTCOMES",
    "RULE_OUTCOMES",
    "SEVERITIES",
    "Metrics",
    "es_operation",
]

SEVERITIES: tuple[str, ...] = tuple(s.value for s in Severity)
COMPLIANCE_STATUSES: tuple[str, ...] = tuple(s.value for s in ControlStatus)
JOB_OUTCOMES = ("success", "error", "skipped")
RULE_OUTCOMES = ("success", "error")
#: the ``operation`` label of ES request durations: the API family, never a path or index name
ES_OPERATIONS = ("bulk", "search", "msearch", "count", "get", "index", "health", "indices",
                 "pit", "other")
HA_ROLES = ("active", "standby")
ES_CLUSTER_STATUSES = ("green", "yellow", "red", "unreachable")

_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_JOBS = (0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)


class Metrics:
    """Holds every metric object. One instance per registry; tests build a fresh registry."""

    def __init__(self, registry: CollectorRegistry, version: str) -> None:
        self.registry = registry
        self._sources: set[str] = set()
        r = registry
        self.build_info = Info("monitor_build", "Build of the running monitor.", registry=r)
        self.build_info.info({"version": version, "python": platform.python_version()})
        self.start_time = Gauge("monitor_start_time_seconds",
                                "Unix time the daemon started.", registry=r)

        # -- sources -----------------------------------------------------------------------
        src = ["source"]
        self.source_ingested = Counter(
            "monitor_source_events_ingested_total",
            "Events from a source indexed into Elasticsearch (first time, not duplicates).",
            src, registry=r)
        self.source_dead_lettered = Counter(
            "monitor_source_events_dead_lettered_total",
            "Records from a source written to the dead-letter index (unparsable or rejected).",
            src, registry=r)
        self.source_duplicates = Counter(
            "monitor_source_events_duplicate_total",
            "Records from a source that were already indexed (same stable id; replays).",
            src, registry=r)
        self.source_errors = Counter(
            "monitor_source_errors_total",
            "Failed collection runs or receiver errors of a source.", src, registry=r)
        self.source_last_event = Gauge(
            "monitor_source_last_event_timestamp_seconds",
            "Unix time the last event from a source was indexed (the daemon's start if none "
            "since), so silence counts from start.",
            src, registry=r)
        self.source_last_success = Gauge(
            "monitor_source_last_success_timestamp_seconds",
            "Unix time of the last successful collection run or flush of a source.",
            src, registry=r)
        self.source_spool_bytes = Gauge(
            "monitor_source_spool_bytes",
            "Bytes waiting in a source's disk spool (Elasticsearch unreachable).", src,
            registry=r)
        self.source_spool_capacity = Gauge(
            "monitor_source_spool_capacity_bytes",
            "Configured maximum size of a source's disk spool.", src, registry=r)
        self.source_up = Gauge(
            "monitor_source_up",
            "1 if the source's last run succeeded (or its receiver is listening), else 0.",
            src, registry=r)
        self.source_silent_after = Gauge(
            "monitor_source_silent_after_seconds",
            "No event for this long means the source is silent (0: silence is normal, e.g. git).",
            src, registry=r)

        # -- rules -------------------------------------------------------------------------
        self.rule_runs = Counter(
            "monitor_rule_runs_total", "Evaluations of a rule by outcome.",
            ["rule", "outcome"], registry=r)
        self.rule_duration = Histogram(
            "monitor_rule_duration_seconds", "Time to evaluate one rule for one window.",
            ["rule"], buckets=_FAST, registry=r)
        self.rule_matches = Counter(
            "monitor_rule_matches_total", "Findings produced by a rule, by severity.",
            ["rule", "severity"], registry=r)
        self.rule_truncated = Counter(
            "monitor_rule_truncated_total",
            "Evaluated segments of a rule cut by its max_findings flood guard.",
            ["rule"], registry=r)
        self.rule_learning = Gauge(
            "monitor_rule_learning",
            "1 while a rule's question needs more indexed history than there is (cold start: "
            "new_terms, flatline, spike raise nothing meanwhile).", ["rule"], registry=r)
        self.rule_last_success = Gauge(
            "monitor_rule_last_success_timestamp_seconds",
            "Unix time a rule last evaluated successfully.", ["rule"], registry=r)
        self.rule_info = Gauge(
            "monitor_rule_info", "1 per loaded rule: its name, severity and type (join on rule).",
            ["rule", "name", "severity", "type"], registry=r)
        self.rules_loaded = Gauge(
            "monitor_rules_loaded", "Rules and controls currently loaded, by kind.",
            ["kind"], registry=r)

        # -- findings and compliance -------------------------------------------------------
        self.findings_open = Gauge(
            "monitor_findings_open", "Open findings (not acknowledged or closed) by severity.",
            ["severity"], registry=r)
        self.compliance_status = Gauge(
            "monitor_compliance_requirement_status",
            "1 for the current status of a requirement, 0 for the other statuses.",
            ["framework", "requirement", "status"], registry=r)
        self.compliance_score = Gauge(
            "monitor_compliance_score_ratio",
            "Share of checkable requirements that pass (0..1), per framework.",
            ["framework"], registry=r)
        self.compliance_last_evaluation = Gauge(
            "monitor_compliance_last_evaluation_timestamp_seconds",
            "Unix time compliance was last evaluated, per framework.", ["framework"],
            registry=r)

        # -- reports -----------------------------------------------------------------------
        self.report_last_success = Gauge(
            "monitor_report_last_success_timestamp_seconds",
            "Unix time a report of this kind was last written.", ["framework", "period"],
            registry=r)

        # -- alert and report delivery -----------------------------------------------------
        dest = ["destination"]  # alertmanager-1.., webhook: named from the settings, bounded
        self.alerts_sent = Counter(
            "monitor_alerts_sent_total",
            "Alerts (findings, failed controls) accepted by a destination.", dest, registry=r)
        self.alert_delivery_failures = Counter(
            "monitor_alert_delivery_failures_total",
            "Failed delivery attempts to a destination (each retried with backoff).", dest,
            registry=r)
        self.alerts_queued = Gauge(
            "monitor_alerts_queued",
            "Alerts waiting in a destination's disk queue (unreachable or retrying).", dest,
            registry=r)
        self.alerts_dropped = Counter(
            "monitor_alerts_dropped_total",
            "Alerts dropped: queue full (oldest first) or a batch the destination refused as "
            "invalid (HTTP 400/422).", dest, registry=r)
        self.alert_last_success = Gauge(
            "monitor_alert_last_success_timestamp_seconds",
            "Unix time a destination last accepted a batch of alerts.", dest, registry=r)
        self.report_deliveries = Counter(
            "monitor_report_deliveries_total",
            "Deliveries of rendered reports by channel (email, folder) and outcome.",
            ["channel", "outcome"], registry=r)
        self.report_delivery_last_success = Gauge(
            "monitor_report_delivery_last_success_timestamp_seconds",
            "Unix time a report was last delivered through a channel.", ["channel"], registry=r)

        # -- scheduler ---------------------------------------------------------------------
        self.job_runs = Counter(
            "monitor_scheduler_job_runs_total", "Job runs by outcome (skipped: standby).",
            ["job_id", "outcome"], registry=r)
        self.jobs_missed = Counter(
            "monitor_scheduler_jobs_missed_total",
            "Job runs that did not start on time (missed, or the previous run still going).",
            ["job_id"], registry=r)
        self.jobs_failed = Counter(
            "monitor_scheduler_jobs_failed_total", "Job runs that raised an error.", ["job_id"],
            registry=r)
        self.job_duration = Histogram(
            "monitor_scheduler_job_duration_seconds", "Duration of job runs.", ["job_id"],
            buckets=_JOBS, registry=r)
        self.job_last_success = Gauge(
            "monitor_scheduler_job_last_success_timestamp_seconds",
            "Unix time a job last completed successfully.", ["job_id"], registry=r)

        # -- elasticsearch -----------------------------------------------------------------
        self.es_request_duration = Histogram(
            "monitor_es_request_duration_seconds",
            "Elasticsearch request duration by API family.", ["operation"], buckets=_FAST,
            registry=r)
        self.es_request_errors = Counter(
            "monitor_es_request_errors_total",
            "Elasticsearch requests that failed (connection error or HTTP >= 500).",
            ["operation"], registry=r)
        self.es_bulk_rejections = Counter(
            "monitor_es_bulk_rejections_total",
            "Documents Elasticsearch rejected with 429/5xx in bulk requests (then retried).",
            registry=r)
        self.es_up = Gauge("monitor_es_up", "1 if Elasticsearch answered the last health check.",
                           registry=r)
        self.es_cluster_status = Gauge(
            "monitor_es_cluster_status",
            "1 for the cluster health status seen last (green, yellow, red, unreachable).",
            ["status"], registry=r)
        self.es_nodes = Gauge("monitor_es_nodes",
                              "Nodes in the Elasticsearch cluster at the last health check.",
                              registry=r)
        self.es_unassigned_shards = Gauge(
            "monitor_es_unassigned_shards",
            "Unassigned shards at the last health check (replicas of a lost node, or worse).",
            registry=r)

        # -- high availability and config --------------------------------------------------
        self.ha_role = Gauge("monitor_ha_role", "1 for this instance's current role.",
                             ["role"], registry=r)
        self.ha_active = Gauge("monitor_ha_active",
                               "1 if this instance holds the active lease.", registry=r)
        self.ha_transitions = Counter("monitor_ha_transitions_total",
                                      "Role changes of this instance.", ["to"], registry=r)
        self.config_reloads = Counter("monitor_config_reloads_total",
                                      "Reloads (SIGHUP / monitor reload) by outcome.",
                                      ["outcome"], registry=r)
        self.config_last_reload_ok = Gauge(
            "monitor_config_last_reload_successful",
            "1 if the last reload was applied, 0 if it was refused (old config kept).",
            registry=r)
        self._init_static()

    # -- series initialisation --------------------------------------------------------------

    def _init_static(self) -> None:
        for severity in SEVERITIES:
            self.findings_open.labels(severity=severity).set(0)
        for operation in ES_OPERATIONS:
            self.es_request_duration.labels(operation=operation)
            self.es_request_errors.labels(operation=operation)
        for role in HA_ROLES:
            self.ha_role.labels(role=role).set(0)
        for status in ES_CLUSTER_STATUSES:
            self.es_cluster_status.labels(status=status).set(0)
            self.ha_transitions.labels(to=role)
        for outcome in ("success", "error"):
            self.config_reloads.labels(outcome=outcome)
        self.config_last_reload_ok.set(1)
        for kind in ("threat", "control"):
            self.rules_loaded.labels(kind=kind).set(0)

    def add_source(self, name: str, spool_capacity_bytes: int | None = None,
                   silent_after_seconds: float = 0.0, started_at: float | None = None) -> None:
        new = name not in self._sources
        self._sources.add(name)
        for metric in (self.source_ingested, self.source_dead_lettered, self.source_duplicates,
                       self.source_errors):
            metric.labels(source=name)
        for gauge in (self.source_last_event, self.source_last_success,
                      self.source_spool_bytes, self.source_up):
            gauge.labels(source=name)
        self.source_spool_capacity.labels(source=name).set(spool_capacity_bytes or 0)
        self.source_silent_after.labels(source=name).set(silent_after_seconds)
        if new and started_at is not None:
            self.source_last_event.labels(source=name).set(started_at)

    def add_rule(self, rule_id: str) -> None:
        for outcome in RULE_OUTCOMES:
            self.rule_runs.labels(rule=rule_id, outcome=outcome)
        for severity in SEVERITIES:
            self.rule_matches.labels(rule=rule_id, severity=severity)
        self.rule_duration.labels(rule=rule_id)
        self.rule_truncated.labels(rule=rule_id)
        self.rule_learning.labels(rule=rule_id)
        self.rule_last_success.labels(rule=rule_id)

    def set_rule_info(self, rules: dict[str, tuple[str, str, str]]) -> None:
        """Replace the rule info series with ``rules`` (id -> (name, severity, type))."""
        self.rule_info.clear()
        for rule_id, (name, severity, kind) in rules.items():
            self.rule_info.labels(rule=rule_id, name=name[:200], severity=severity,
                                  type=kind).set(1)

    def add_job(self, job_id: str) -> None:
        for outcome in JOB_OUTCOMES:
            self.job_runs.labels(job_id=job_id, outcome=outcome)
        self.jobs_missed.labels(job_id=job_id)
        self.jobs_failed.labels(job_id=job_id)
        self.job_duration.labels(job_id=job_id)
        self.job_last_success.labels(job_id=job_id)

    def add_alert_destination(self, name: str) -> None:
        for metric in (self.alerts_sent, self.alert_delivery_failures, self.alerts_dropped,
                       self.alerts_queued, self.alert_last_success):
            metric.labels(destination=name)

    def add_report_channel(self, channel: str) -> None:
        for outcome in ("success", "error"):
            self.report_deliveries.labels(channel=channel, outcome=outcome)
        self.report_delivery_last_success.labels(channel=channel)

    def add_report_kind(self, framework: str, period: str) -> None:
        self.report_last_success.labels(framework=framework, period=period)

    def add_framework(self, framework: str, requirements: Iterable[str]) -> None:
        self.compliance_score.labels(framework=framework)
        self.compliance_last_evaluation.labels(framework=framework)
        for requirement in requirements:
            for status in COMPLIANCE_STATUSES:
                self.compliance_status.labels(framework=framework, requirement=requirement,
                                              status=status)

    # -- setters used by jobs ---------------------------------------------------------------

    def set_requirement_status(self, framework: str, requirement: str, status: str) -> None:
        if status not in COMPLIANCE_STATUSES:
            raise ValueError(f"unknown compliance status {status!r}")
        for candidate in COMPLIANCE_STATUSES:
            self.compliance_status.labels(framework=framework, requirement=requirement,
                                          status=candidate).set(1 if candidate == status else 0)

    def set_role(self, active: bool) -> None:
        self.ha_active.set(1 if active else 0)
        self.ha_role.labels(role="active").set(1 if active else 0)
        self.ha_role.labels(role="standby").set(0 if active else 1)

    def remove_source(self, name: str) -> None:
        """A source gone from the config after a reload stops being exported."""
        self._sources.discard(name)
        for metric in (self.source_ingested, self.source_dead_lettered, self.source_duplicates,
                       self.source_errors, self.source_last_event, self.source_last_success,
                       self.source_spool_bytes, self.source_spool_capacity,
                       self.source_up, self.source_silent_after):
            try:
                metric.remove(name)
            except KeyError:
                pass


def es_operation(method: str, path: str) -> str:
    """The bounded ``operation`` label for an Elasticsearch request (method and path)."""
    for part in path.split("?", 1)[0].split("/"):
        if not part.startswith("_"):
            continue
        name = part[1:]
        if name in ("bulk", "search", "msearch", "count"):
            return name
        if name in ("doc", "create", "source"):
            return "get" if method in ("GET", "HEAD") else "index"
        if name == "cluster":
            return "health"
        if name in ("pit", "search_after"):
            return "pit"
        if name in ("index_template", "refresh", "mapping", "settings", "alias", "aliases"):
            return "indices"
        if name in ("nodes", "cat"):
            return "other"
    return "get" if path.count("/") >= 2 else "indices"
