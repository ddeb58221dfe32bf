"""``ratio``: numerator/denominator document counts within [``min``, ``max``]."""
from __future__ import annotations

from typing import Any

from ...model import ControlStatus
from ..controls import Ratio
from ..queries import Period, bool_filter, substitute, time_range, window_of
from .base import CheckOutcome, Judging, Request, empty, total


def requests(check: Ratio, params: dict[str, Any], period: Period) -> list[Request]:
    window = window_of(check, period)
    return [(side.kind, {"query": bool_filter(time_range(window),
                                              substitute(side.query, params, period))})
            for side in (check.numerator, check.denominator)]


def judge(check: Ratio, responses: list[dict[str, Any]], ctx: Judging) -> CheckOutcome:
    numerator, denominator = total(responses[0]), total(responses[1])
    details: dict[str, Any] = {"numerator": numerator, "denominator": denominator,
                               "min": check.min, "max": check.max}
    if denominator == 0:
        return empty(check, "denominator is 0", details, ctx)
    ratio = numerator / denominator
    details["ratio"] = round(ratio, 6)
    bad = (check.min is not None and ratio < check.min) or \
        (check.max is not None and ratio > check.max)
    text = f"{check.name}: ratio {ratio:.4f} ({numerator}/{denominator})"
    return CheckOutcome(check.name, check.type,
                        ControlStatus.failed if bad else ControlStatus.passed,
                        text, denominator, 1 if bad else 0, details, ctx.queries)
