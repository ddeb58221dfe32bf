"""``max_age``: the newest matching document is at most ``max_age_days`` old at period end."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from ...model import ControlStatus
from ..controls import MaxAge
from ..queries import Period, bool_filter, ms, substitute, time_range
from .base import CheckOutcome, Judging, Request, hit_ids


def requests(check: MaxAge, params: dict[str, Any], period: Period) -> list[Request]:
    lookback = check.lookback_days or max(check.max_age_days * 4, 30)
    since = period.end - timedelta(days=lookback)
    query = substitute(check.query, params, period)
    return [(check.kind, {"query": bool_filter(time_range(Period(since, period.end)), query),
                          "aggs": {"last": {"max": {"field": "@timestamp"}},
                                   "latest": {"top_hits": {"size": 1, "_source": False,
                                                           "sort": [{"@timestamp": "desc"}]}}}})]


def judge(check: MaxAge, responses: list[dict[str, Any]], ctx: Judging) -> CheckOutcome:
    name = check.name
    found = responses[0].get("aggregations", {})
    last = found.get("last", {}).get("value")
    details: dict[str, Any] = {"max_age_days": check.max_age_days,
                               "latest_ids": hit_ids(found.get("latest")),
                               "last_seen": found.get("last", {}).get("value_as_string")}
    if last is None:
        return CheckOutcome(name, check.type, ControlStatus.failed, f"{name}: none found", 1, 1,
                            details, ctx.queries)
    age = (ms(min(ctx.period.end, ctx.at)) - float(last)) / 86_400_000
    details["age_days"] = round(age, 3)
    if age > check.max_age_days:
        return CheckOutcome(name, check.type, ControlStatus.failed,
                            f"{name}: latest is {age:.1f} days old (max {check.max_age_days})",
                            1, 1, details, ctx.queries)
    return CheckOutcome(name, check.type, ControlStatus.passed,
                        f"{name}: latest is {age:.1f} days old", 1, 0, details, ctx.queries)
