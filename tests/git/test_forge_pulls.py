"""Forges as pull sources on the ingest pipeline: the daemon keeps them across runs, the cursor
stays where existing installs have it, every page's cursor is committed after its own write.
HTTP through respx, documents and cursors in the real Elasticsearch."""
from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx
from test_forges import (
    GL,
    NOW,
    SHA_DEPLOYED,
    Sleeps,
    _app,
    _docs,
    _es,
    _etag_deployments,
    _github_routes,
)

from monitor.daemon.adapters import _wire_forges
from monitor.daemon.components import Components
from monitor.daemon.forge_runs import ingest_changes
from monitor.model import Document
from monitor.settings import ArgoCdSource, GithubSource, GitlabSource, settings_from_dict
from monitor.sources.base import Batch
from monitor.sources.forges import pull_sources
from monitor.sources.forges.argocd import ArgoCdSource as ArgoCdPull
from monitor.sources.forges.http import ForgeHttp
from monitor.store import BulkWriter, StateStore

ARGO = "https://argocd.example.com"
APP_URL = f"{ARGO}/api/v1/applications/fw-policy"


async def test_daemon_job_keeps_the_argocd_source_across_runs_and_closes_it(store,
                                                                         wiring_context):
    settings = settings_from_dict({"sources": {"argocd": [{
        "name": "argo", "base_url": ARGO, "token": "jwt", "applications": ["fw-policy"]}]}})
    components = Components()
    _wire_forges(wiring_context(settings), components)
    job = next(j for j in components.jobs if j.id == "source:argo")
    assert job.source == "argo" and "argo" in components.quiet_sources
    built: list[httpx.AsyncClient] = []
    real = httpx.AsyncClient

    def client(*args: Any, **kwargs: Any) -> httpx.AsyncClient:
        built.append(real(*args, **kwargs))
        return built[-1]

    with respx.mock(assert_all_called=False) as mock, \
            pytest.MonkeyPatch.context() as patch:
        patch.setattr(httpx, "AsyncClient", client)
        _es(mock, store)
        route = mock.get(APP_URL).respond(200, json=_app([3, 4, 5]))
        first = await job.func()
        route.respond(200, json=_app([6, 7]))
        second = await job.func()
    assert first is not None and second is not None
    assert first.counts["indexed"] == 4 and first.counts["requests"] == 1
    assert second.counts["indexed"] == 2 and second.counts["gaps"] == 0
    assert len(built) == 1 and not built[0].is_closed  # one client for both runs
    # the state key and layout existing installs have
    cursor = await StateStore(store).get("argocd:argo")
    assert cursor is not None and cursor.value["last_history_id"] == {"fw-policy": 7}
    assert set(cursor.value) == {"last_history_id", "synced_at"}
    for close in components.closers:
        await close()
    assert built[0].is_closed


async def test_argocd_continues_from_an_existing_cursor(store):
    cfg = ArgoCdSource(name="argo-old", base_url=ARGO, token="jwt", applications=["fw-policy"])
    state = StateStore(store)
    await state.put("argocd:argo-old", {"last_history_id": {"fw-policy": 8},
                                        "synced_at": "2026-11-20T00:00:00Z"}, None)
    source = ArgoCdPull(cfg, sleep=Sleeps(), now=NOW)
    with respx.mock(assert_all_called=False) as mock:
        _es(mock, store)
        mock.get(APP_URL).respond(200, json=_app([7, 8, 11, 12]))
        stats = await ingest_changes([source], "argocd", cfg.name, BulkWriter(store), state)
    await source.close()
    assert stats.gaps == 1 and stats.indexed == 4  # the gap, 11, 12, the operation
    cursor = await state.get("argocd:argo-old")
    assert cursor is not None
    assert cursor.value == {"last_history_id": {"fw-policy": 12},
                            "synced_at": "2026-11-25T12:00:00Z"}
    gaps = await _docs(store, **{"change.kind": "history_gap"})
    assert [g["change"]["gap"] for g in gaps] == [{"after_id": 8, "before_id": 11, "missing": 2}]


class _FailingWriter(BulkWriter):
    async def write(self, items: Any, **kwargs: Any) -> Any:
        list(items)
        raise ConnectionError("elasticsearch went away")


async def test_argocd_cursor_stays_when_the_write_fails(store):
    cfg = ArgoCdSource(name="argo-down", base_url=ARGO, token="jwt", applications=["fw-policy"])
    state = StateStore(store)
    source = ArgoCdPull(cfg, sleep=Sleeps(), now=NOW)
    with respx.mock(assert_all_called=False) as mock:
        _es(mock, store)
        mock.get(APP_URL).respond(200, json=_app([3, 4]))
        with pytest.raises(ConnectionError):
            await ingest_changes([source], "argocd", cfg.name, _FailingWriter(store), state)
        assert await state.get("argocd:argo-down") is None  # the next run reads 3 and 4 again
        stats = await ingest_changes([source], "argocd", cfg.name, BulkWriter(store), state)
    await source.close()
    assert stats.indexed == 3


def test_pull_sources_by_kind():
    cfg = ArgoCdSource(name="a", base_url=ARGO)
    sources = pull_sources("argocd", cfg)
    assert [s.cursor_key for s in sources] == ["argocd:a"]
    assert sources[0].name == "argocd:a"
    gitlab = GitlabSource(name="g", base_url="https://gitlab.example.com",
                          projects=["net/policy", "42"])
    projects = pull_sources("gitlab", gitlab)
    assert [p.cursor_key for p in projects] == ["gitlab:g:net/policy", "gitlab:g:42"]
    assert projects[0].connection is projects[1].connection  # one client for the forge
    github = GithubSource(name="h", token="t", repositories=["acme/policy", "acme/other"])
    repositories = pull_sources("github", github)
    assert [r.cursor_key for r in repositories] == ["github:h:acme/policy", "github:h:acme/other"]
    assert repositories[0].connection is repositories[1].connection
    assert {r.name for r in repositories} == {"github:h"}
    with pytest.raises(ValueError):
        pull_sources("git", github)


def _gl_deployment(dep_id: int, updated: str) -> dict[str, Any]:
    return {"id": dep_id, "iid": dep_id, "ref": "main", "sha": SHA_DEPLOYED,
            "status": "success", "created_at": updated, "updated_at": updated,
            "user": {"id": 1, "username": "alice", "name": "Alice"},
            "environment": {"id": 9, "name": "production"},
            "deployable": {"id": 77, "status": "success",
                           "pipeline": {"id": 500, "sha": SHA_DEPLOYED, "status": "success"}}}


async def test_gitlab_projects_keep_their_cursors_and_share_one_client(store):
    cfg = GitlabSource(name="gl-pull", base_url="https://gitlab.example.com", token="glpat",
                       projects=["net/policy", "net/other"])
    state = StateStore(store)
    # an existing install: net/policy has read up to the 20th
    await state.put("gitlab:gl-pull:net/policy",
                    {"deployments_since": "2026-11-20T00:00:00Z",
                     "merge_requests_since": "2026-11-20T00:00:00Z"}, None)
    asked: dict[str, list[str | None]] = {}

    def deployments(request: httpx.Request) -> httpx.Response:
        project = request.url.raw_path.decode().split("/")[4]
        asked.setdefault(project, []).append(request.url.params.get("updated_after"))
        if project == "net%2Fpolicy":
            return httpx.Response(200, json=[_gl_deployment(51, "2026-11-22T10:00:00Z"),
                                             {"id": 52, "deployable": "broken"}])
        return httpx.Response(200, json=[_gl_deployment(61, "2026-11-23T10:00:00Z")])

    projects = pull_sources("gitlab", cfg, sleep=Sleeps(), now=NOW)
    with respx.mock(assert_all_called=False) as mock:
        _es(mock, store)
        mock.get(url__regex=rf"{GL}/projects/[^/]+/deployments").mock(side_effect=deployments)
        mock.get(url__regex=rf"{GL}/projects/[^/]+/merge_requests").respond(200, json=[])
        stats = await ingest_changes(projects, "gitlab", cfg.name, BulkWriter(store), state)
        again = await ingest_changes(projects, "gitlab", cfg.name, BulkWriter(store), state)
    http = projects[0].connection.http()
    for project in projects:
        await project.close()
    assert stats.indexed == 2 and stats.dead_lettered == 1 and stats.documents == 2
    assert stats.requests == 4 and again.indexed == 0 and again.duplicates == 2
    assert asked["net%2Fpolicy"] == ["2026-11-20T00:00:00Z", "2026-11-22T10:00:00Z"]
    assert asked["net%2Fother"] == ["2026-10-26T12:00:00Z", "2026-11-23T10:00:00Z"]
    assert http.counters.requests == 8  # one client, one set of counters, both runs
    policy = await state.get("gitlab:gl-pull:net/policy")
    assert policy is not None and policy.value == {
        "deployments_since": "2026-11-22T10:00:00Z",
        "merge_requests_since": "2026-11-20T00:00:00Z"}


class _Pages:
    """A source with ``pages`` pages; each fetch checks the previous page's cursor is stored."""

    check_time = False

    def __init__(self, state: StateStore, pages: int, *, moving: bool = True) -> None:
        self.name = "pages"
        self.cursor_key = "pages:test"
        self.state, self.pages, self.moving = state, pages, moving
        self.seen: list[Any] = []
        self.more = True

    async def fetch(self, cursor: dict[str, Any] | None) -> Batch[int]:
        stored = await self.state.get(self.cursor_key)
        self.seen.append((cursor, stored.value if stored else None))
        page = (cursor or {}).get("page", 0) + (1 if self.moving else 0)
        self.more = page < self.pages
        return Batch([page], {"page": page}, {"documents": 1})

    def normalize(self, record: int) -> list[Document]:
        return [Document("changes", f"pages-{record}",
                         {"@timestamp": "2026-11-25T12:00:00Z", "change": {"kind": "test"}})]

    async def close(self) -> None:
        pass


async def test_pages_loop_commits_each_cursor_and_is_bounded(store):
    state = StateStore(store)
    source = _Pages(state, 3)
    stats = await ingest_changes([source], "test", "pages", BulkWriter(store), state)
    # every fetch saw the cursor of the page before already committed
    assert source.seen == [(None, None), ({"page": 1}, {"page": 1}), ({"page": 2}, {"page": 2})]
    assert stats.documents == 3 and stats.indexed == 3
    endless = _Pages(state, 10**6)
    endless.cursor_key = "pages:endless"
    await ingest_changes([endless], "test", "pages", BulkWriter(store), state, max_rounds=4)
    assert len(endless.seen) == 4  # bounded
    stuck = _Pages(state, 10**6, moving=False)
    stuck.cursor_key = "pages:stuck"
    await ingest_changes([stuck], "test", "pages", BulkWriter(store), state)
    assert len(stuck.seen) == 2  # the cursor stopped moving


async def test_daemon_github_job_sends_if_none_match_on_its_next_run(store, wiring_context):
    """The daemon keeps its GitHub sources, so the second run of the job revalidates with the
    ETag the first one got: a 304, counted in the job's report, costs no quota."""
    settings = settings_from_dict({"sources": {"github": [{
        "name": "gh-daemon", "token": "t0ken", "repositories": ["acme/policy"]}]}})
    components = Components()
    _wire_forges(wiring_context(settings), components)
    job = next(j for j in components.jobs if j.id == "source:gh-daemon")
    seen: list[str | None] = []
    deployments = _etag_deployments(seen)

    with respx.mock(assert_all_called=False) as mock:
        _es(mock, store)
        _github_routes(mock, deployments)
        first = await job.func()
        second = await job.func()
    for close in components.closers:
        await close()
    assert first is not None and second is not None
    assert seen == [None, '"v1"']
    assert first.counts["not_modified"] == 0 and second.counts["not_modified"] >= 1
    assert second.counts["requests"] >= 1 and first.counts["indexed"] >= 1


async def test_etag_cache_and_counters_belong_to_the_instance():
    """Two clients of the same source and URL share nothing: no module keeps a cache or totals."""
    url = "https://api.github.com"
    async with httpx.AsyncClient() as client:
        one, two = ForgeHttp("same", url, client), ForgeHttp("same", url, client)
        assert one.etags is not two.etags and one.counters is not two.counters
        with respx.mock(base_url=url) as mock:
            route = mock.get("/x").mock(side_effect=[
                httpx.Response(200, json=[1], headers={"etag": '"e"'}),
                httpx.Response(304, headers={"etag": '"e"'}),
                httpx.Response(200, json=[1], headers={"etag": '"e"'})])
            assert (await one.get("/x")).data == [1]
            assert (await one.get("/x")).status == 304
            assert (await two.get("/x")).status == 200  # nothing cached in this one
    assert [c.request.headers.get("if-none-match") for c in route.calls] == [None, '"e"', None]
    assert (one.counters.requests, one.counters.not_modified) == (2, 1)
    assert (two.counters.requests, two.counters.not_modified) == (1, 0)
