"""Lease election against the real Elasticsearch: one active, takeover after expiry."""
from __future__ import annotations

import asyncio
import time

from monitor.daemon.ha import LeaseKeeper
from monitor.settings import HaSettings
from monitor.store import StateStore, Store

HA = HaSettings(lease_seconds=6, renew_seconds=2, lease_name="lease-test")


async def test_exactly_one_active_then_takeover_after_the_holder_stops(store: Store) -> None:
    state = StateStore(store)
    changes: dict[str, list[bool]] = {"a": [], "b": []}
    a = LeaseKeeper(state, HA, "a", on_change=changes["a"].append)
    b = LeaseKeeper(state, HA, "b", on_change=changes["b"].append)
    assert await a.tick() is True
    assert await b.tick() is False
    assert b.holder == "a"
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(a.run(stop_a))
    task_b = asyncio.create_task(b.run(stop_b))
    try:
        for _ in range(6):  # renewals keep the roles stable
            await asyncio.sleep(0.5)
            assert a.active and not b.active
        # a dies without releasing (as after SIGKILL): stop renewing
        stop_a.set()
        await task_a
        died = time.monotonic()
        deadline = died + 30
        while not b.active:
            assert time.monotonic() < deadline, "standby did not take over within 30 s"
            await asyncio.sleep(0.1)
        takeover = time.monotonic() - died
        assert takeover < 30  # the requirement; typically lease + renew seconds
        # a's own view expires from its monotonic clock, without asking Elasticsearch
        while a.active:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    finally:
        stop_b.set()
        await task_b
    assert changes["a"] == [True]  # it died: no callback ran, but its own view expired
    assert changes["b"] == [True]


async def test_release_hands_over_at_the_next_poll(store: Store) -> None:
    state = StateStore(store)
    a = LeaseKeeper(state, HA, "a")
    b = LeaseKeeper(state, HA, "b")
    assert await a.tick()
    assert not await b.tick()
    await a.release()
    assert not a.active
    assert await b.tick()
    assert not await a.tick()
