"""Signals only set flags; the main loop reads them.

* SIGTERM / SIGINT: ``should_exit``. The app stops accepting, drains jobs for at most
  ``daemon.shutdown_timeout_seconds``, flushes buffers and spool, persists cursors, exits 0.
* a second SIGTERM / SIGINT: ``force_exit``. Remaining work is cancelled at once (exit 1).
* SIGHUP: ``reload_requested``. The app re-reads config and rules, validates them first, and
  keeps the old ones (saying why) when the new ones are invalid.

``capture()`` installs the handlers on the running loop and restores the previous ones after.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "EXIT_FORCED",
    "EXIT_OK",
    "EXIT_STARTUP_FAILURE",
    "Lifecycle",
    "remove_pidfile",
    "write_pidfile",
]

log = logging.getLogger("monitor.lifecycle")

EXIT_OK = 0
EXIT_FORCED = 1
EXIT_STARTUP_FAILURE = 3

_EXIT_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Lifecycle:
    def __init__(self) -> None:
        self.should_exit = False
        self.force_exit = False
        self.reload_requested = False
        self.wake = asyncio.Event()
        self.forced = asyncio.Event()

    def handle_exit(self, sig: int) -> None:
        if self.should_exit:
            self.force_exit = True
            self.forced.set()
            log.warning("second signal: forcing exit", extra={"fields": {
                "signal": signal.Signals(sig).name}})
        else:
            self.should_exit = True
            log.warning("shutting down", extra={"fields": {"signal": signal.Signals(sig).name}})
        self.wake.set()

    def request_reload(self) -> None:
        self.reload_requested = True
        self.wake.set()

    def take_reload(self) -> bool:
        requested, self.reload_requested = self.reload_requested, False
        return requested

    @contextlib.contextmanager
    def capture(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in _EXIT_SIGNALS:
            loop.add_signal_handler(sig, self.handle_exit, sig)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        try:
            yield
        finally:
            for sig in (*_EXIT_SIGNALS, signal.SIGHUP):
                loop.remove_signal_handler(sig)

    async def wait(self) -> None:
        await self.wake.wait()
        self.wake.clear()


def write_pidfile(path: Path) -> None:
    """Write our pid atomically; refuse when another live process owns the file."""
    if path.exists():
        try:
            other = int(path.read_text().strip())
        except ValueError:
            other = 0
        if other and other != os.getpid() and _alive(other):
            raise RuntimeError(f"pidfile {path} belongs to running process {other}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{os.getpid()}\n")
    os.replace(tmp, path)


def remove_pidfile(path: Path) -> None:
    try:
        if path.read_text().strip() == str(os.getpid()):
            path.unlink()
    except OSError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
