"""Values computed at scrape time, so no job can forget to update them.

``LagCollector`` turns positions (a source's cursor, a rule's last searched window end) into
``now - position`` when Prometheus scrapes; ``HaCollector`` reads the lease keeper's view of
the lease (held and not yet expired by our own monotonic clock). Positions are plain numbers
(Unix seconds) that jobs record; the clock is injected for tests.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["LagCollector", "Positions", "ReceiverCollector"]


class Positions:
    """Latest known position (Unix seconds) per source and per rule. ``None``: unknown yet."""

    def __init__(self) -> None:
        self.sources: dict[str, float | None] = {}
        self.rules: dict[str, float | None] = {}

    def track_source(self, name: str) -> None:
        self.sources.setdefault(name, None)

    def track_rule(self, rule_id: str) -> None:
        self.rules.setdefault(rule_id, None)

    def set_source(self, name: str, position: datetime | float) -> None:
        value = position.timestamp() if isinstance(position, datetime) else float(position)
        current = self.sources.get(name)
        self.sources[name] = value if current is None else max(current, value)

    def set_rule(self, rule_id: str, window_end: datetime | float) -> None:
        value = window_end.timestamp() if isinstance(window_end, datetime) else float(window_end)
        self.rules[rule_id] = value

    def forget_source(self, name: str) -> None:
        self.sources.pop(name, None)

    def retain_rules(self, rule_ids: set[str]) -> None:
        for rule_id in list(self.rules):
            if rule_id not in rule_ids:
                del self.rules[rule_id]
        for rule_id in rule_ids:
            self.track_rule(rule_id)


class LagCollector(Collector):
    """``monitor_source_lag_seconds`` and ``monitor_rule_window_lag_seconds`` at scrape time.

    An unknown position is exported as 0 (series exist from the start); staleness of a source or
    rule that never succeeded is caught by the ``*_last_success_timestamp_seconds`` alerts.
    """

    def __init__(self, positions: Positions, clock: Callable[[], float] = time.time) -> None:
        self._positions = positions
        self._clock = clock

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("monitor_source_lag_seconds", "", labels=["source"])
        yield GaugeMetricFamily("monitor_rule_window_lag_seconds", "", labels=["rule"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self._clock()
        sources = GaugeMetricFamily(
            "monitor_source_lag_seconds",
            "Now minus a source's cursor or newest indexed event (0: unknown yet).",
            labels=["source"])
        for name, position in sorted(self._positions.sources.items()):
            sources.add_metric([name], 0.0 if position is None else max(0.0, now - position))
        yield sources
        rules = GaugeMetricFamily(
            "monitor_rule_window_lag_seconds",
            "Now minus the end of the last window a rule searched (0: unknown yet).",
            labels=["rule"])
        for rule_id, position in sorted(self._positions.rules.items()):
            rules.add_metric([rule_id], 0.0 if position is None else max(0.0, now - position))
        yield rules


_RECEIVER_REFUSALS = {"rejected_senders": "sender_not_allowed", "oversized": "oversized",
                      "dropped_spool_full": "spool_full",
                      "refused_connections": "connection_limit",
                      "tls_handshake_failed": "tls_handshake_failed",
                      "idle_closed": "idle_timeout"}


class ReceiverCollector(Collector):
    """Counters a receiver keeps itself, read at scrape time from ``status()`` of each service:
    records received, spooled and replayed, and records refused by reason (``reason`` is one
    of ``sender_not_allowed``, ``oversized`` (cut to the size limit, still kept),
    ``connection_limit``, ``tls_handshake_failed``, ``idle_timeout`` (connections) and
    ``spool_full``, the only one that loses data and the one ``MonitorRecordsDropped`` watches)."""

    def __init__(self, statuses: Callable[[], dict[str, dict[str, object]]]) -> None:
        self._statuses = statuses

    def describe(self) -> Iterator[CounterMetricFamily]:
        return iter(())

    def collect(self) -> Iterator[CounterMetricFamily]:
        statuses = self._statuses()
        received = CounterMetricFamily("monitor_receiver_records_received",
                                       "Records a receiver accepted from allowed senders.",
                                       labels=["source"])
        spooled = CounterMetricFamily("monitor_receiver_records_spooled",
                                      "Records written to the disk spool (Elasticsearch "
                                      "unreachable or queue full).", labels=["source"])
        replayed = CounterMetricFamily("monitor_receiver_records_replayed",
                                       "Spooled records replayed into Elasticsearch.",
                                       labels=["source"])
        refused = CounterMetricFamily("monitor_receiver_records_refused",
                                      "Records refused or cut, by reason.",
                                      labels=["source", "reason"])
        for name, status in sorted(statuses.items()):
            received.add_metric([name], float(status.get("received", 0) or 0))  # type: ignore[arg-type]  # client_python types label values loosely
            spooled.add_metric([name], float(status.get("spooled", 0) or 0))  # type: ignore[arg-type]  # client_python types label values loosely
            replayed.add_metric([name], float(status.get("replayed", 0) or 0))  # type: ignore[arg-type]  # client_python types label values loosely
            for key, reason in _RECEIVER_REFUSALS.items():
                refused.add_metric([name, reason], float(status.get(key, 0) or 0))  # type: ignore[arg-type]  # client_python types label values loosely
        yield received
        yield spooled
        yield replayed
        yield refused
