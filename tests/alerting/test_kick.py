"""A kick (the rules job stored findings) starts a sync at once; kicks arriving while it runs
are not lost: they coalesce into one more sync after it, whose listing sees the newest finding."""
from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, cast

from monitor.alerting import Alerting
from monitor.alerting.sync import SyncReport


class _Sync:
    """Counts runs; each run waits until the test lets it finish."""

    def __init__(self) -> None:
        self.runs = 0
        self.release = asyncio.Event()

    async def run(self, now: datetime) -> SyncReport:
        self.runs += 1
        await self.release.wait()
        self.release.clear()
        return SyncReport()


class _Sender:
    def ensure_running(self) -> None:
        pass

    async def close(self) -> None:
        pass


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_kicks_during_a_sync_coalesce_into_one_more_sync() -> None:
    sync = _Sync()
    alerting = Alerting(sync=cast(Any, sync), sender=cast(Any, _Sender()))
    alerting.kick()
    await _settle()
    assert sync.runs == 1
    alerting.kick()  # two findings stored while the first sync lists open findings
    alerting.kick()
    sync.release.set()
    await _settle()
    assert sync.runs == 2  # one more, not two more
    sync.release.set()
    await _settle()
    assert alerting._kicked is not None and alerting._kicked.done()
    assert sync.runs == 2
    alerting.kick()  # idle again: a new kick starts a new sync
    await _settle()
    assert sync.runs == 3
    sync.release.set()
    await alerting.close()
