"""One module per compliance check kind; ``KINDS`` maps a check's ``type`` to its functions.

Each kind builds its request(s) and judges their responses (see ``base.py``); nothing here
does I/O. To add a kind: a model in ``controls.py``, a module here, an entry in ``KINDS``.
"""
from __future__ import annotations

from typing import Any

from . import clock_skew, each_present, max_age, no_matches, ratio, reconcile, retention, streak
from .base import CheckKind, CheckOutcome, Judging, Request

KINDS: dict[str, CheckKind] = {
    "no_matches": CheckKind(no_matches.requests, no_matches.judge),
    "each_present": CheckKind(each_present.requests, each_present.judge),
    "max_age": CheckKind(max_age.requests, max_age.judge),
    "ratio": CheckKind(ratio.requests, ratio.judge),
    "reconcile": CheckKind(reconcile.requests, reconcile.judge, reconcile.followup),
    "streak": CheckKind(streak.requests, streak.judge),
    "retention": CheckKind(retention.requests, retention.judge),
    "clock_skew": CheckKind(clock_skew.requests, clock_skew.judge),
}


def kind_of(check: Any) -> CheckKind:
    """The functions answering ``check`` (by its ``type``); ``TypeError`` for an unknown one."""
    try:
        return KINDS[check.type]
    except KeyError:
        raise TypeError(f"unknown check type {check.type!r}") from None


__all__ = ["KINDS", "CheckKind", "CheckOutcome", "Judging", "Request", "kind_of"]
