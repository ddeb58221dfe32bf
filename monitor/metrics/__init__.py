"""Prometheus metrics: ``definitions`` (every metric, against an injected registry),
``collectors`` (values computed at scrape time) and ``server`` (the HTTP endpoint)."""
from .definitions import COMPLIANCE_STATUSES, SEVERITIES, Metrics

__all__ = ["COMPLIANCE_STATUSES", "SEVERITIES", "Metrics"]
