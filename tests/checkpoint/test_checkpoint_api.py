"""Management API collector against respx (the only fake), writing to the real Elasticsearch."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from monitor.errors import SourceError
from monitor.settings import CheckpointApiSource
from monitor.sources.checkpoint_api import (
    CheckpointApiClient,
    CheckpointApiCollector,
    cursor_key,
    pull_once,
)
from monitor.store import BulkWriter, StateStore

from .fake_mgmt import BASE, T0, FakeMgmt


def _cfg(**extra: Any) -> CheckpointApiSource:
    values: dict[str, Any] = {"name": "mgmt1", "url": "https://mgmt.example.test",
                              "api_key": "k3y", "log_types": ["logs"],
                              "max_logs_per_request": 50, "overlap_seconds": 120,
                              "initial_lookback_seconds": 3600, **extra}
    return CheckpointApiSource(**values)


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment
        self.mono = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.moment

    def monotonic(self) -> float:
        return self.mono

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.mono += seconds


async def _count(store: Any, query: dict[str, Any] | None = None) -> int:
    await store.es.indices.refresh(index=store.names.read("events"), ignore_unavailable=True)
    body = await store.es.count(index=store.names.read("events"), query=query or {"match_all": {}},
                                ignore_unavailable=True, allow_no_indices=True)
    return int(body["count"])


def _collector(cfg: CheckpointApiSource, store: Any, clock: Clock,
               client: httpx.AsyncClient) -> CheckpointApiCollector:
    return CheckpointApiCollector(cfg, BulkWriter(store), StateStore(store), client=client,
                                  now=clock.now, sleep=clock.sleep, monotonic=clock.monotonic)


@pytest.fixture
def fake() -> FakeMgmt:
    return FakeMgmt()


async def test_pages_to_the_end_and_cursor_advances(store: Any, fake: FakeMgmt) -> None:
    fake.add("logs", 230, start=T0)
    clock = Clock(T0 + timedelta(minutes=30))
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()  # the real Elasticsearch
        mock.post(url__startswith=BASE).mock(side_effect=fake)
        async with httpx.AsyncClient() as client:
            stats = await pull_once(_cfg(), BulkWriter(store), StateStore(store), client,
                                    now=clock.now, sleep=clock.sleep, monotonic=clock.monotonic)
    assert stats.logs == 230 and stats.indexed == 230 and stats.pages == 5
    assert await _count(store) == 230
    first = fake.calls[1][1]["new-query"]
    assert first["time-frame"] == "custom" and first["type"] == "logs"
    assert first["max-logs-per-request"] == 50
    assert [c for c, _ in fake.calls].count("logout") == 1
    state = await StateStore(store).get(cursor_key(_cfg(), "logs"))
    assert state is not None and state.value["done_until"] == "2026-03-01T12:30:00Z"
    assert "window" not in state.value
    # documents are ECS with API names normalized to exporter names
    hit = await store.es.search(index=store.names.read("events"), size=1,
                                query={"term": {"event.action": "Drop"}})
    doc = hit["hits"]["hits"][0]["_source"]
    assert doc["observer"]["name"] == "gw-1" and doc["network"]["direction"] == "inbound"
    assert doc["destination"]["port"] == 443 and doc["event"]["dataset"] == "checkpoint.firewall"


async def test_session_expiry_mid_paging_relogs_and_loses_nothing(store: Any,
                                                                   fake: FakeMgmt) -> None:
    fake.add("logs", 180, start=T0)
    fake.expire_after_pages = 2
    clock = Clock(T0 + timedelta(minutes=30))
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()  # the real Elasticsearch
        mock.post(url__startswith=BASE).mock(side_effect=fake)
        async with httpx.AsyncClient() as client:
            stats = await pull_once(_cfg(), BulkWriter(store), StateStore(store), client,
                                    now=clock.now, sleep=clock.sleep, monotonic=clock.monotonic)
    assert fake.logins == 2 and stats.logins == 2
    assert await _count(store) == 180
    assert stats.indexed == 180 and stats.duplicates == 100  # the 2 pages before expiry re-read


async def test_429_and_too_many_requests_back_off(store: Any, fake: FakeMgmt) -> None:
    fake.add("logs", 60, start=T0)
    fake.faults = [("show-logs", httpx.Response(429, json={"code": "err_too_many_requests",
                                                           "message": "Too many requests"})),
                   ("show-logs", httpx.Response(200, json={"code": "err_too_many_requests",
                                                           "message": "Too many requests in a "
                                                                      "given amount of time"})),
                   ("show-logs", httpx.Response(502, text="bad gateway")),
                   ("show-logs", httpx.Response(200, content=b'{"logs": [{"id": "tru'))]
    clock = Clock(T0 + timedelta(minutes=30))
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()  # the real Elasticsearch
        mock.post(url__startswith=BASE).mock(side_effect=fake)
        async with httpx.AsyncClient() as client:
            stats = await pull_once(_cfg(), BulkWriter(store), StateStore(store), client,
                                    now=clock.now, sleep=clock.sleep, monotonic=clock.monotonic)
    assert [int(s) for s in clock.sleeps[:4]] == [1, 2, 4, 8]  # exponential, + <0.5 s jitter
    assert stats.retries == 4 and await _count(store) == 60


async def test_restart_midway_resumes_without_gap_or_duplicate(store: Any,
                                                               fake: FakeMgmt) -> None:
    fake.add("logs", 300, start=T0)
    fake.down_after_pages = 3  # the management server dies after 3 pages (150 logs written)
    clock = Clock(T0 + timedelta(minutes=30))
    cfg = _cfg()
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()  # the real Elasticsearch
        mock.post(url__startswith=BASE).mock(side_effect=fake)
        async with httpx.AsyncClient() as client:
            first = _collector(cfg, store, clock, client)
            with pytest.raises(SourceError, match="show-logs failed"):
                await first.pull_once()
            assert await _count(store) == 150
            state = await StateStore(store).get(cursor_key(cfg, "logs"))
            assert state is not None and state.value["window"] == ["2026-03-01T11:30:00Z",
                                                                  "2026-03-01T12:30:00Z"]
            # "restart": a new collector, same state; more logs arrived meanwhile
            fake.down_after_pages = None
            fake.add("logs", 40, start=T0 + timedelta(minutes=31))
            clock.moment = T0 + timedelta(minutes=40)
            second = _collector(cfg, store, clock, client)
            stats = await second.pull_once()
            assert stats.windows["logs"] == ["2026-03-01T11:30:00Z", "2026-03-01T12:30:00Z"]
            assert stats.indexed == 150 and stats.duplicates == 150
            third = await second.pull_once()  # next window starts at done_until - overlap
            assert third.windows["logs"] == ["2026-03-01T12:28:00Z", "2026-03-01T12:40:00Z"]
            assert third.indexed == 40
            await second.close()
    assert await _count(store) == 340
    distinct = await store.es.search(index=store.names.read("events"), size=0, aggs={
        "ids": {"cardinality": {"field": "event.id", "precision_threshold": 1000}}})
    assert distinct["aggregations"]["ids"]["value"] == 340


async def test_audit_logs_are_classified(store: Any, fake: FakeMgmt) -> None:
    fake.add("audit", 10, start=T0)
    clock = Clock(T0 + timedelta(minutes=30))
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()  # the real Elasticsearch
        mock.post(url__startswith=BASE).mock(side_effect=fake)
        async with httpx.AsyncClient() as client:
            stats = await pull_once(_cfg(log_types=["audit"]), BulkWriter(store),
                                    StateStore(store), client, now=clock.now, sleep=clock.sleep,
                                    monotonic=clock.monotonic)
    assert stats.indexed == 10
    assert fake.calls[1][1]["new-query"]["type"] == "audit"
    assert await _count(store, {"term": {"event.dataset": "checkpoint.audit"}}) == 10
    assert await _count(store, {"term": {"event.action": "logged-in"}}) == 5
    assert await _count(store, {"term": {"event.category": "configuration"}}) == 5


async def test_login_refused_is_a_clear_error(store: Any, fake: FakeMgmt) -> None:
    fake.faults = [("login", httpx.Response(400, json={
        "code": "err_login_failed_wrong_username_or_password",
        "message": "Authentication to server failed."}))]
    clock = Clock(T0)
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()  # the real Elasticsearch
        mock.post(url__startswith=BASE).mock(side_effect=fake)
        async with httpx.AsyncClient() as client:
            with pytest.raises(SourceError, match="login refused"):
                await pull_once(_cfg(), BulkWriter(store), StateStore(store), client,
                                now=clock.now, sleep=clock.sleep, monotonic=clock.monotonic)
    assert clock.sleeps == []


async def test_login_rate_limit_is_respected(fake: FakeMgmt) -> None:
    clock = Clock(T0)
    with respx.mock(assert_all_called=False) as mock:
        mock.post(url__startswith=BASE).mock(side_effect=fake)
        async with httpx.AsyncClient() as client:
            api = CheckpointApiClient(_cfg(), client, sleep=clock.sleep,
                                      monotonic=clock.monotonic)
            for _ in range(4):  # e.g. four session losses in a row: the 4th login must wait
                await api.login()
                clock.mono += 1
    assert fake.logins == 4
    assert len(clock.sleeps) == 1 and 56 <= clock.sleeps[0] <= 61


async def test_keepalive_when_idle_and_logout_on_close(store: Any, fake: FakeMgmt) -> None:
    fake.add("logs", 5, start=T0)
    clock = Clock(T0 + timedelta(minutes=5))
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()
        mock.post(url__startswith=BASE).mock(side_effect=fake)
        async with httpx.AsyncClient() as client:
            collector = _collector(_cfg(), store, clock, client)
            await collector.pull_once()
            clock.mono += 400  # idle for more than half the 600 s session timeout
            await collector.pull_once()
            await collector.close()
    commands = [c for c, _ in fake.calls]
    assert commands.count("login") == 1 and commands.count("keepalive") == 1
    assert commands[-1] == "logout"
    assert fake.calls[0][1] == {"read-only": True, "session-name": "pci-monitor",
                                "session-description": "log collection (read-only)",
                                "api-key": "k3y"}


async def test_expired_query_id_reruns_the_window(store: Any, fake: FakeMgmt) -> None:
    fake.add("logs", 120, start=T0)
    clock = Clock(T0 + timedelta(minutes=30))
    original = fake.__call__

    def forget_queries(request: httpx.Request) -> httpx.Response:
        if fake.pages_served == 1 and b"query-id" in request.content:
            fake.queries.clear()  # the server dropped the query after the first page
        return original(request)

    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()
        mock.post(url__startswith=BASE).mock(side_effect=forget_queries)
        async with httpx.AsyncClient() as client:
            stats = await pull_once(_cfg(), BulkWriter(store), StateStore(store), client,
                                    now=clock.now, sleep=clock.sleep, monotonic=clock.monotonic)
    assert fake.logins == 1 and stats.indexed == 120 and stats.duplicates == 50
    assert sum(1 for c, b in fake.calls if c == "show-logs" and "new-query" in b) == 2
    assert await _count(store) == 120
