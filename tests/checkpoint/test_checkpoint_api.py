"""Management API pull sources against respx (the only fake), driven by the ingest pipeline
(``ingest_once``) into the real Elasticsearch with a real ``BulkWriter`` and ``StateStore``."""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

import monitor.sources.checkpoint_api as checkpoint_api
from monitor.errors import SourceError
from monitor.ingest import ingest_once, ingest_pages
from monitor.settings import CheckpointApiSource
from monitor.sources.checkpoint_api import (
    CheckpointApiClient,
    CheckpointApiLogs,
    checkpoint_api_sources,
    cursor_key,
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


@dataclass
class Stats:
    """What one run of the sources did, added up from the batches' counts and the writes."""

    logs: int = 0
    pages: int = 0
    indexed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    requests: int = 0
    logins: int = 0
    retries: int = 0
    windows: dict[str, list[str]] = field(default_factory=dict)


def _sources(cfg: CheckpointApiSource, clock: Clock,
             client: httpx.AsyncClient) -> list[CheckpointApiLogs]:
    return checkpoint_api_sources(cfg, client, now=clock.now, sleep=clock.sleep,
                                  monotonic=clock.monotonic)


async def _run(sources: list[CheckpointApiLogs], store: Any) -> Stats:
    """One run as the daemon does it: every log type, a page per ``ingest_once`` (each page's
    cursor committed after its write) while the source says more waits."""
    writer, state, stats = BulkWriter(store), StateStore(store), Stats()
    for source in sources:
        for report in await ingest_pages(source, writer, state):
            for key, value in report.as_counts().items():
                if hasattr(stats, key):
                    setattr(stats, key, getattr(stats, key) + value)
        assert source.window is not None
        stats.windows[source.log_type] = list(source.window)
    return stats


async def pull_once(cfg: CheckpointApiSource, store: Any, clock: Clock,
                    client: httpx.AsyncClient) -> Stats:
    """Log in, pull every configured log type once, log out."""
    sources = _sources(cfg, clock, client)
    try:
        return await _run(sources, store)
    finally:
        for source in sources:
            await source.close()


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
            stats = await pull_once(_cfg(), store, clock, client)
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
            stats = await pull_once(_cfg(), store, clock, client)
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
            stats = await pull_once(_cfg(), store, clock, client)
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
            first = _sources(cfg, clock, client)
            with pytest.raises(SourceError, match="show-logs failed"):
                await _run(first, store)
            assert await _count(store) == 150
            state = await StateStore(store).get(cursor_key(cfg, "logs"))
            assert state is not None and state.value["window"] == ["2026-03-01T11:30:00Z",
                                                                  "2026-03-01T12:30:00Z"]
            # "restart": new sources (a new session), same state; more logs arrived meanwhile
            fake.down_after_pages = None
            fake.add("logs", 40, start=T0 + timedelta(minutes=31))
            clock.moment = T0 + timedelta(minutes=40)
            second = _sources(cfg, clock, client)
            stats = await _run(second, store)
            assert stats.windows["logs"] == ["2026-03-01T11:30:00Z", "2026-03-01T12:30:00Z"]
            assert stats.indexed == 150 and stats.duplicates == 150
            third = await _run(second, store)  # next window starts at done_until - overlap
            assert third.windows["logs"] == ["2026-03-01T12:28:00Z", "2026-03-01T12:40:00Z"]
            assert third.indexed == 40
            await second[0].close()
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
            stats = await pull_once(_cfg(log_types=["audit"]), store, clock, client)
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
                await pull_once(_cfg(), store, clock, client)
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
            sources = _sources(_cfg(), clock, client)
            await _run(sources, store)
            clock.mono += 400  # idle for more than half the 600 s session timeout
            await _run(sources, store)
            await sources[0].close()
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
            stats = await pull_once(_cfg(), store, clock, client)
    assert fake.logins == 1 and stats.indexed == 120 and stats.duplicates == 50
    assert sum(1 for c, b in fake.calls if c == "show-logs" and "new-query" in b) == 2
    assert await _count(store) == 120


async def test_a_query_id_page_lost_in_transit_reruns_the_window_instead_of_skipping_it(
        store: Any, fake: FakeMgmt) -> None:
    """The server serves the second page but the answer times out: repeating the same
    query-id would return the third page and the second would never be stored, so the window
    is read again from its start."""
    fake.add("logs", 150, start=T0)
    clock = Clock(T0 + timedelta(minutes=30))
    original = fake.__call__
    lost: list[int] = []

    def lose_one_answer(request: httpx.Request) -> httpx.Response:
        response = original(request)
        if b"query-id" in request.content and fake.pages_served == 2 and not lost:
            lost.append(1)  # served (the query moved on), but the answer never arrives
            raise httpx.ReadTimeout("answer lost", request=request)
        return response

    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()
        mock.post(url__startswith=BASE).mock(side_effect=lose_one_answer)
        async with httpx.AsyncClient() as client:
            stats = await pull_once(_cfg(), store, clock, client)
    assert lost and await _count(store) == 150 and stats.indexed == 150
    assert sum(1 for c, b in fake.calls if c == "show-logs" and "new-query" in b) == 2


def _mock(fake: FakeMgmt) -> Any:
    mock = respx.mock(assert_all_called=False)
    mock.route(host="127.0.0.1").pass_through()  # the real Elasticsearch
    mock.post(url__startswith=BASE).mock(side_effect=fake)
    return mock


async def _distinct(store: Any) -> int:
    await store.es.indices.refresh(index=store.names.read("events"), ignore_unavailable=True)
    body = await store.es.search(index=store.names.read("events"), size=0, aggs={
        "ids": {"cardinality": {"field": "event.id", "precision_threshold": 1000}}})
    return int(body["aggregations"]["ids"]["value"])


def _new_queries(fake: FakeMgmt) -> int:
    return sum(1 for c, b in fake.calls if c == "show-logs" and "new-query" in b)


async def test_interrupted_window_resumes_with_every_log_once(store: Any,
                                                              fake: FakeMgmt) -> None:
    """A crash after two pages were written and committed, before the last page: the next
    process re-runs the window and every log ends up indexed exactly once."""
    fake.add("logs", 230, start=T0)
    clock = Clock(T0 + timedelta(minutes=30))
    cfg = _cfg()
    key = cursor_key(cfg, "logs")
    with _mock(fake):
        async with httpx.AsyncClient() as client:
            crashed = _sources(cfg, clock, client)[0]
            for _ in range(2):
                await ingest_once(crashed, BulkWriter(store), StateStore(store), close=False)
            assert crashed.more
            state = await StateStore(store).get(key)
            assert state is not None and state.value["window"] == ["2026-03-01T11:30:00Z",
                                                                  "2026-03-01T12:30:00Z"]
            assert state.value["query_id"] and state.value["pages"] == 2
            assert await _count(store) == 100
            # the process dies here (no logout); a new one starts from the stored cursor
            resumed = _sources(cfg, clock, client)
            stats = await _run(resumed, store)
            await resumed[0].close()
    assert stats.windows["logs"] == ["2026-03-01T11:30:00Z", "2026-03-01T12:30:00Z"]
    assert stats.indexed == 130 and stats.duplicates == 100 and stats.logs == 230
    assert await _count(store) == 230 and await _distinct(store) == 230
    state = await StateStore(store).get(key)
    assert state is not None and state.value == {"done_until": "2026-03-01T12:30:00Z",
                                                 "last_event_time": "2026-03-01T12:03:49.000Z"}


async def test_a_window_continues_from_its_committed_page(store: Any, fake: FakeMgmt) -> None:
    """The same source goes on with the stored query-id: no page is read twice."""
    fake.add("logs", 230, start=T0)
    clock = Clock(T0 + timedelta(minutes=30))
    with _mock(fake):
        async with httpx.AsyncClient() as client:
            sources = _sources(_cfg(), clock, client)
            for _ in range(2):
                await ingest_once(sources[0], BulkWriter(store), StateStore(store), close=False)
            stats = await _run(sources, store)
            await sources[0].close()
    assert stats.indexed == 130 and stats.duplicates == 0 and stats.pages == 3
    assert _new_queries(fake) == 1 and fake.logins == 1
    assert await _count(store) == 230


class _FailingWriter(BulkWriter):
    """The store refuses the next write (after the page was read from the server)."""

    async def write(self, *args: Any, **kwargs: Any) -> Any:
        raise SourceError("store unavailable (test)")


async def test_a_failed_write_reruns_the_window_instead_of_skipping_a_page(
        store: Any, fake: FakeMgmt) -> None:
    """The server's query moved past a page that was never written: following the stored
    query-id would lose it, so the window is read again from its start."""
    fake.add("logs", 230, start=T0)
    clock = Clock(T0 + timedelta(minutes=30))
    with _mock(fake):
        async with httpx.AsyncClient() as client:
            sources = _sources(_cfg(), clock, client)
            await ingest_once(sources[0], BulkWriter(store), StateStore(store), close=False)
            with pytest.raises(SourceError, match="store unavailable"):
                await ingest_once(sources[0], _FailingWriter(store), StateStore(store),
                                  close=False)
            stats = await _run(sources, store)
            await sources[0].close()
    assert _new_queries(fake) == 2
    assert stats.indexed == 180 and stats.duplicates == 50
    assert await _count(store) == 230 and await _distinct(store) == 230


async def test_a_failed_fetch_reruns_the_window_in_the_next_run(store: Any,
                                                                fake: FakeMgmt) -> None:
    """The server may have moved its query past the page whose answer was lost: the next run
    of the same sources reads the window again from its start, not from the stored query-id."""
    fake.add("logs", 230, start=T0)
    fake.down_after_pages = 2
    clock = Clock(T0 + timedelta(minutes=30))
    with _mock(fake):
        async with httpx.AsyncClient() as client:
            sources = _sources(_cfg(), clock, client)
            with pytest.raises(SourceError, match="show-logs failed"):
                await _run(sources, store)
            fake.down_after_pages = None
            before = len(fake.calls)
            stats = await _run(sources, store)
            await sources[0].close()
    # the next run starts the window over with a new query (a failed query-id page is never
    # repeated as is: it is re-run at once, and while the server is down that fails too)
    second = [body for command, body in fake.calls[before:] if command == "show-logs"]
    assert "new-query" in second[0] and _new_queries(fake) >= 2 and fake.logins == 1
    assert stats.indexed == 130 and stats.duplicates == 100
    assert await _count(store) == 230 and await _distinct(store) == 230


async def test_a_cursor_of_the_old_layout_is_honoured(store: Any, fake: FakeMgmt) -> None:
    """The collector this replaced stored ``done_until``/``last_event_time`` plus ``window``
    (no query-id): that window is re-run whole, then the next one starts at done_until -
    overlap; its idle layout alone is read the same way."""
    fake.add("logs", 60, start=T0 + timedelta(minutes=10))
    clock = Clock(T0 + timedelta(minutes=30))
    cfg = _cfg()
    key = cursor_key(cfg, "logs")
    state = StateStore(store)
    await state.put(key, {"done_until": "2026-03-01T12:05:00Z",
                          "last_event_time": "2026-03-01T12:04:59.000Z",
                          "window": ["2026-03-01T12:03:00Z", "2026-03-01T12:20:00Z"]}, None)
    with _mock(fake):
        async with httpx.AsyncClient() as client:
            sources = _sources(cfg, clock, client)
            stats = await _run(sources, store)
            assert stats.windows["logs"] == ["2026-03-01T12:03:00Z", "2026-03-01T12:20:00Z"]
            assert stats.indexed == 60
            current = await state.get(key)
            assert current is not None and current.value == {
                "done_until": "2026-03-01T12:20:00Z",
                "last_event_time": "2026-03-01T12:10:59.000Z"}
            await state.put(key, {"done_until": "2026-03-01T12:15:00Z"}, current)
            stats = await _run(sources, store)
            await sources[0].close()
    assert stats.windows["logs"] == ["2026-03-01T12:13:00Z", "2026-03-01T12:30:00Z"]
    assert stats.duplicates == 0 and stats.indexed == 0  # nothing new after 12:13
    first, second = (b["new-query"] for c, b in fake.calls
                     if c == "show-logs" and "new-query" in b)
    assert (first["custom-start"], first["custom-end"]) == ("2026-03-01T12:03:00Z",
                                                            "2026-03-01T12:20:00Z")
    assert second["custom-start"] == "2026-03-01T12:13:00Z"


def test_normalize_is_pure_and_dead_letters_what_is_not_an_object() -> None:
    source = checkpoint_api_sources(_cfg(log_types=["audit"]))[0]
    received = T0 + timedelta(minutes=1)
    letter, = source.normalize(checkpoint_api.ApiLog("audit", ["not", "an", "object"], received))
    assert letter.raw == b'["not","an","object"]' and letter.received_at == received
    assert "not an object" in letter.reason
    document, = source.normalize(checkpoint_api.ApiLog(
        "audit", {"id": "a-1", "time": "2026-03-01T12:00:00Z", "orig": "mgmt-1",
                  "operation": "Log In", "administrator": "alice"}, received))
    assert document.source["event"]["dataset"] == "checkpoint.audit"  # type defaults to Audit


def test_the_source_module_imports_nothing_from_the_store() -> None:
    """The source reads and normalizes; writing and the cursor belong to the pipeline."""
    path = Path(checkpoint_api.__file__)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = [node.module or "" for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names]
    assert imported and not [m for m in imported if m == "store" or m.startswith("store.")
                             or m.startswith("monitor.store")]


async def test_the_daemon_honours_keep_original_for_api_logs(store: Any, fake: FakeMgmt,
                                                             wiring_context: Any) -> None:
    """``elasticsearch.keep_original: false`` drops ``event.original`` from API logs too (the
    daemon built the API sources with the default, so they kept it whatever the setting)."""
    from datetime import UTC

    from monitor.daemon.adapters import _wire_checkpoint_api
    from monitor.daemon.components import Components
    from monitor.settings import settings_from_dict

    fake.add("logs", 20, start=datetime.now(UTC) - timedelta(minutes=10))
    settings = settings_from_dict({
        "elasticsearch": {"keep_original": False},
        "sources": {"checkpoint_api": [_cfg().model_dump(mode="json") | {"api_key": "k3y"}]}})
    context = wiring_context(settings)
    components = Components()
    _wire_checkpoint_api(context, components)
    (job,) = components.jobs
    with _mock(fake):
        await job.func()
        for close in components.closers:
            await close()
    assert await _count(store) == 20
    answer = await store.es.search(index=store.names.read("events"), size=50)
    events = [hit["_source"]["event"] for hit in answer["hits"]["hits"]]
    assert len(events) == 20 and not [e for e in events if "original" in e]
