"""A bounded first-in first-out queue of request bodies on disk, one folder per destination.

Why on disk: an alert must survive Alertmanager being down and the daemon restarting while it
is. Each entry is one file ``<sequence>-<alerts>.json`` written to a temporary name, fsynced
and renamed, so a crash leaves either the whole entry or none. Entries are delivered in order
(a resolve never overtakes the firing post it ends) and removed only after the destination
accepted them, so nothing is lost; a re-sent entry carries the same label sets, which
Alertmanager deduplicates, so nothing is duplicated either.

When the folder would grow past ``max_bytes``, the oldest entries are dropped and counted: the
open alerts they carried are posted again by the next resend, a bounded disk is worth more.
"""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DiskQueue", "Entry", "open_queue"]

_NAME = re.compile(r"^(\d{16})-(\d+)\.json$")


@dataclass(frozen=True, slots=True)
class Entry:
    path: Path
    sequence: int
    alerts: int

    def read(self) -> bytes:
        return self.path.read_bytes()


class DiskQueue:
    """Thread-safe; ``push`` from the sync job, ``peek``/``ack`` from the sender."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()
        for stale in folder.glob("*.tmp"):  # a crash mid-write: the entry never existed
            stale.unlink(missing_ok=True)
        self._entries: list[Entry] = sorted(
            (Entry(p, int(m.group(1)), int(m.group(2)))
             for p in folder.iterdir() if (m := _NAME.match(p.name))),
            key=lambda e: e.sequence)
        self._bytes = sum(self._size(e) for e in self._entries)
        self._next = (self._entries[-1].sequence + 1) if self._entries else 1

    @staticmethod
    def _size(entry: Entry) -> int:
        try:
            return entry.path.stat().st_size
        except FileNotFoundError:
            return 0

    def push(self, body: bytes, alerts: int) -> list[Entry]:
        """Append one entry (durably); returns the entries dropped to make room."""
        dropped: list[Entry] = []
        with self._lock:
            while self._entries and self._bytes + len(body) > self.max_bytes:
                old = self._entries.pop(0)
                self._bytes -= self._size(old)
                old.path.unlink(missing_ok=True)
                dropped.append(old)
            sequence = self._next
            self._next += 1
            path = self.folder / f"{sequence:016d}-{alerts}.json"
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, body)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            self._fsync_dir()
            self._entries.append(Entry(path, sequence, alerts))
            self._bytes += len(body)
        return dropped

    def _fsync_dir(self) -> None:
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def peek(self) -> Entry | None:
        with self._lock:
            return self._entries[0] if self._entries else None

    def ack(self, entry: Entry) -> None:
        """The destination accepted ``entry``: forget it."""
        with self._lock:
            if entry in self._entries:
                self._entries.remove(entry)
                self._bytes -= self._size(entry)
            entry.path.unlink(missing_ok=True)

    @property
    def alerts(self) -> int:
        with self._lock:
            return sum(e.alerts for e in self._entries)

    @property
    def bytes(self) -> int:
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


_OPEN: dict[Path, DiskQueue] = {}
_OPEN_LOCK = threading.Lock()


def open_queue(folder: Path, max_bytes: int) -> DiskQueue:
    """One ``DiskQueue`` per folder in a process: a reload builds new components over the same
    folder, and two objects over one folder would hand out the same sequence numbers."""
    key = folder.resolve()
    with _OPEN_LOCK:
        queue = _OPEN.get(key)
        if queue is None:
            queue = _OPEN[key] = DiskQueue(folder, max_bytes)
        queue.max_bytes = max_bytes
        return queue
