"""The compiled fast path of the Check Point normalizer (``native/``, Rust), when installed.

The pure-Python normalizer is the reference: ``monitor_native.normalize_syslog`` either returns
the very document and id the reference builds for a line (serialized: ``EncodedSource``), or a
reason string, and then the reference runs. Tests hold the two equal on the corpus, on
generated traffic and on random lines (``tests/checkpoint/test_native_parity.py``). Without
the extension (a machine without a Rust toolchain) everything still works, at the reference's
speed; the daemon's start-up log line says which one runs. ``MONITOR_NATIVE_PARSER=off`` turns
it off.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["active", "describe", "enabled"]

FastPath = Callable[[str, "str | None", str, bool], "tuple[str | None, str, bytes] | str"]


def _load() -> tuple[FastPath | None, str]:
    if os.environ.get("MONITOR_NATIVE_PARSER", "").lower() in ("off", "0", "false", "no"):
        return None, "reference (pure Python; MONITOR_NATIVE_PARSER=off)"
    try:
        import monitor_native
    except ImportError as exc:
        return None, f"reference (pure Python; compiled fast path not installed: {exc})"
    return (monitor_native.normalize_syslog,
            f"native fast path monitor_native {monitor_native.__version__} + reference fallback")


#: the fast path in use, or None (read by ``normalize_checkpoint`` on every record)
active, _description = _load()
_loaded = active


def describe() -> str:
    """Which normalizer runs, for the daemon's start-up log."""
    if active is None and _loaded is not None:
        return "reference (pure Python; fast path switched off)"
    return _description


@contextmanager
def enabled(flag: bool) -> Iterator[bool]:
    """Run a block with the fast path on or off (tests and benchmarks compare both);
    yields whether it is really on."""
    global active
    previous = active
    active = _loaded if flag else None
    try:
        yield active is not None
    finally:
        active = previous
