"""``retention``: the oldest document is ≥ ``min_days`` old (or older than ``go_live``)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ...model import ControlStatus
from ..controls import Retention
from ..queries import Period, bool_filter, iso, ms, substitute
from .base import CheckOutcome, Judging, Request, iso_ms, total


def requests(check: Retention, params: dict[str, Any], period: Period) -> list[Request]:
    query = substitute(check.query, params, period)
    return [(check.kind, {"query": bool_filter(query),
                          "aggs": {"oldest": {"min": {"field": "@timestamp"}}}})]


def judge(check: Retention, responses: list[dict[str, Any]], ctx: Judging) -> CheckOutcome:
    name, first = check.name, responses[0]
    oldest = first.get("aggregations", {}).get("oldest", {}).get("value")
    required = ctx.period.end - timedelta(days=check.min_days)
    go_live = ctx.params.get("go_live")
    details = {"oldest": iso_ms(oldest) if oldest is not None else None,
               "required_oldest_before": iso(required), "go_live": go_live,
               "documents": total(first)}
    if oldest is None:
        return CheckOutcome(name, check.type, ControlStatus.insufficient_data,
                            f"{name}: no documents at all", 0, 0, details, ctx.queries)
    ok = oldest <= ms(required)
    if not ok and go_live:
        live = datetime.fromisoformat(go_live).replace(tzinfo=UTC) + timedelta(days=1)
        ok = oldest <= ms(live)
    text = f"{name}: oldest document {details['oldest']}"
    return CheckOutcome(name, check.type, ControlStatus.passed if ok else ControlStatus.failed,
                        text + ("" if ok else f", newer than {iso(required)} and go-live"),
                        1, 0 if ok else 1, details, ctx.queries)
