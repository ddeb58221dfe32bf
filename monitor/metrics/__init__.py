"""Prometheus metrics: ``definitions`` (every metric, against an injected registry),
``collectors`` (values computed at scrape time) and ``server`` (the HTTP endpoint)."""
from .definitions import Metrics, SEVERITIES, COMPLIANCE_STATUSES

__all__ = ["Metrics", "SEVERITIES", "COMPLIANCE_STATUSES"]
