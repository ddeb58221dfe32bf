"""Give freed heap memory back to the operating system after a large job.

A rule evaluation that builds thousands of findings at once raises the process's resident
memory; CPython frees the objects afterwards, but glibc keeps the pages, so RSS stays at the
high-water mark. ``release_memory()`` runs a full collection and ``malloc_trim(0)`` (glibc
only; a no-op elsewhere), so RSS reflects what the daemon actually holds. ``trim_heap()`` is
the cheap half (no collection), run on every stats tick: ingestion allocates and frees a few
megabytes of documents and bulk bodies every second, and glibc would otherwise keep each
burst's pages until the next heavy job.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import cache

__all__ = ["release_memory", "trim_heap"]


@cache
def _malloc_trim() -> object | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None)
    except OSError:
        return None


def release_memory() -> bool:
    """Collect garbage and trim the C heap; return whether the heap could be trimmed."""
    gc.collect()
    return trim_heap()


def trim_heap() -> bool:
    """Give free C-heap pages back to the OS (a few ms); return whether it could."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)  # type: ignore[operator]  # a ctypes function, untyped
    return True
