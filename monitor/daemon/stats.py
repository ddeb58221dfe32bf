"""The ``stats`` job: values read back from Elasticsearch and from the receivers, exported as
metrics on every instance (open findings by severity, compliance status per requirement when
no compliance job sets it, newest report per kind, spool and receiver health)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import StoreError
from ..metrics.collectors import Positions
from ..metrics.definitions import Metrics
from ..model import rollup_status
from ..settings import Settings
from ..store import Store
from ..store import stats as store_stats
from .clusterhealth import cluster_health
from .jobs import RunReport

if TYPE_CHECKING:
    from .components import Components

__all__ = ["refresh_stats"]


async def refresh_stats(store: Store, metrics: Metrics, positions: Positions,
                        components: Components, settings: Settings) -> RunReport:
    await cluster_health(store, metrics)  # status, nodes, unassigned shards as metrics
    try:
        open_findings = await store_stats.open_findings_by_severity(store)
    except StoreError:
        metrics.es_up.set(0)
        raise
    metrics.es_up.set(1)
    for severity in ("low", "medium", "high", "critical"):
        metrics.findings_open.labels(severity=severity).set(open_findings.get(severity, 0))
    rows = [] if components.compliance_wired else \
        await store_stats.latest_control_statuses(store)
    by_requirement: dict[tuple[str, str], list[str]] = {}
    last_eval: dict[str, float] = {}
    for row in rows:
        for requirement in row.requirements:
            by_requirement.setdefault((row.framework, requirement), []).append(row.status)
        if row.evaluated_at:
            last_eval[row.framework] = max(last_eval.get(row.framework, 0), row.evaluated_at)
    scores: dict[str, list[int]] = {}
    for (framework, requirement), statuses in by_requirement.items():
        status = rollup_status(statuses).value
        if requirement not in components.frameworks.get(framework, [requirement]):
            continue  # only the bounded catalogue set becomes a label value
        metrics.set_requirement_status(framework, requirement, status)
        if status in ("pass", "fail", "insufficient_data"):
            tally = scores.setdefault(framework, [0, 0])
            tally[1] += 1
            tally[0] += status == "pass"
    for framework, (passed, total) in scores.items():
        metrics.compliance_score.labels(framework=framework).set(passed / total if total
                                                                  else 0)
    for framework, moment in last_eval.items():
        metrics.compliance_last_evaluation.labels(framework=framework).set(moment)
    for (framework, period), moment in (await store_stats.last_reports(store)).items():
        if (framework, period) in {(k.framework, k.period) for k in settings.reports.kinds}:
            metrics.report_last_success.labels(framework=framework, period=period).set(moment)
    for service in components.services:
        status = service.status()
        if status.get("spool_bytes") is not None:
            metrics.source_spool_bytes.labels(source=service.name).set(status["spool_bytes"])
        if status.get("last_event_unixtime"):
            positions.set_source(service.name, float(status["last_event_unixtime"]))
        metrics.source_up.labels(source=service.name).set(1 if status.get("healthy") else 0)
    return RunReport(counts={"open_findings": sum(open_findings.values()),
                             "controls": len(rows)})

