"""A repository read a page at a time through the ingest pipeline: several fetches for a long
history, a failed write between pages, a restart, an old-layout cursor (real git, real ES)."""
from __future__ import annotations

from typing import Any

import pytest

from monitor.ingest import ingest_once, ingest_pages
from monitor.settings import GitRepoSource
from monitor.sources.cursors import rewound
from monitor.sources.git import GitRepository
from monitor.store.search import refresh


def _cfg(repo: Any, **kw: Any) -> GitRepoSource:
    return GitRepoSource(name=kw.pop("name", "policy"), url=str(repo.path), **kw)


def _history(repo: Any) -> None:
    """21 commits on main (two merged feature branches, so the first-parent line matters) and
    a release branch of 3 more; the fixture's dates wrap around, so parents are sometimes
    newer than their children."""
    for i in range(6):
        repo.commit(f"main {i}")
    repo.git("tag", "-a", "v1", "-m", "release 1")
    for name in ("feature-a", "feature-b"):
        repo.git("checkout", "-q", "-b", name)
        for i in range(4):
            repo.commit(f"{name} {i}")
        repo.git("checkout", "-q", "main")
        repo.commit(f"main before {name}")
        repo.git("merge", "-q", "--no-ff", name, "-m", f"Merge {name}")
    for i in range(3):
        repo.commit(f"main after {i}")
    repo.git("checkout", "-q", "-b", "release")
    for i in range(3):
        repo.commit(f"release {i}")
    repo.git("checkout", "-q", "main")


def _expected(repo: Any) -> tuple[dict[str, str], set[str]]:
    """sha → branch it is recorded under (main first), and main's first-parent line."""
    main = repo.git("rev-list", "refs/heads/main").split()
    release = repo.git("rev-list", "refs/heads/release", "^refs/heads/main").split()
    line = set(repo.git("rev-list", "--first-parent", "refs/heads/main").split())
    line |= set(repo.git("rev-list", "--first-parent", "refs/heads/release",
                         "^refs/heads/main").split())
    return {**{sha: "main" for sha in main}, **{sha: "release" for sha in release}}, line


async def _commits(syncer: Any) -> dict[str, dict[str, Any]]:
    await refresh(syncer.store, ["changes"])
    docs = await syncer.docs()
    return {d["change"]["sha"]: d["change"] for d in docs
            if d["change"]["kind"] in ("commit", "merge")}


class _FailingWriter:
    """Writes like the real writer, then fails on its ``fail_on``-th call: the documents are
    in the store but the acknowledgement is lost (the cursor must not move)."""

    def __init__(self, writer: Any, fail_on: int) -> None:
        self.writer, self.fail_on, self.calls = writer, fail_on, 0

    async def write(self, items: Any, **kwargs: Any) -> Any:
        self.calls += 1
        result = await self.writer.write(items, **kwargs)
        if self.calls == self.fail_on:
            raise ConnectionError("acknowledgement lost")
        return result


async def test_a_history_longer_than_a_page_is_read_in_bounded_pages(repo, syncer):
    _history(repo)
    cfg = _cfg(repo, branches=["main", "release"])
    source = GitRepository(cfg, syncer.cache_dir, page_size=7)
    try:
        reports = await ingest_pages(source, syncer.writer, syncer.state)
    finally:
        await source.close()
    pages = [r.counts["commits"] for r in reports]
    assert pages == [7, 7, 7, 3] and sum(r.counts["tags"] for r in reports) == 1
    assert all(r.result.duplicates == 0 for r in reports)
    assert [r.counts["documents"] for r in reports] == [8, 7, 7, 3]  # the tag with page one
    branches, line = _expected(repo)
    docs = await _commits(syncer)
    assert {sha: d["branch"] for sha, d in docs.items()} == branches
    assert {sha for sha, d in docs.items() if d["mainline"]} == line
    assert len(await syncer.docs()) == 25  # 24 commits and a tag, each once
    cursor = (await syncer.state.get("git:policy")).value
    assert "pending" not in cursor
    assert cursor["branches"] == {"refs/heads/main": repo.head("main"),
                                  "refs/heads/release": repo.head("release")}
    again = await syncer(cfg, page_size=7)
    assert (again.commits, again.documents, again.tags) == (0, 0, 0)


async def test_the_cursor_between_pages_holds_the_next_page(repo, syncer):
    _history(repo)
    cfg = _cfg(repo, branches=["main", "release"])
    source = GitRepository(cfg, syncer.cache_dir, page_size=10)
    report = await ingest_once(source, syncer.writer, syncer.state)  # one page, then closed
    assert report.counts["commits"] == 10 and source.more
    cursor = (await syncer.state.get("git:policy")).value
    pending = cursor["pending"]
    assert pending["done"] == 10 and [p["ref"] for p in pending["plans"]] == \
        ["refs/heads/main", "refs/heads/release"]
    assert pending["plans"][0]["new"] == repo.head("main")
    assert "branches" not in cursor or "refs/heads/main" not in cursor["branches"]
    assert cursor["tags"] and rewound(cursor, "2026-01-01").get("pending") is None
    # a push while the import runs waits for the next plan; the pinned tips are read first
    pushed = repo.commit("pushed during the import")
    stats = await syncer(cfg, page_size=10)  # a new source: the walk restarts with --skip
    assert stats.commits == 14 and stats.duplicates == 0 and stats.tags == 0
    branches, line = _expected(repo)
    docs = await _commits(syncer)
    assert pushed not in docs and set(docs) == set(branches) - {pushed}
    assert {sha for sha, d in docs.items() if d["mainline"]} == line - {pushed}
    assert (await syncer(cfg, page_size=10)).commits == 1
    assert pushed in await _commits(syncer)


@pytest.mark.parametrize("restart", [False, True])
async def test_a_failed_write_between_pages_repeats_one_page(repo, syncer, restart):
    _history(repo)
    cfg = _cfg(repo, branches=["main", "release"])
    source = GitRepository(cfg, syncer.cache_dir, page_size=7)
    failing = _FailingWriter(syncer.writer, fail_on=2)
    with pytest.raises(ConnectionError):
        await ingest_pages(source, failing, syncer.state)
    assert (await syncer.state.get("git:policy")).value["pending"]["done"] == 7
    if restart:
        await source.close()
        source = GitRepository(cfg, syncer.cache_dir, page_size=7)
    try:  # the same source drops its walk (it stood a page further) and reopens it
        reports = await ingest_pages(source, syncer.writer, syncer.state)
    finally:
        await source.close()
    assert [r.counts["commits"] for r in reports] == [7, 7, 3]
    assert [r.result.duplicates for r in reports] == [7, 0, 0]  # the page written unacknowledged
    assert sum(r.counts["tags"] for r in reports) == 0  # reported with the first page, once
    branches, line = _expected(repo)
    docs = await _commits(syncer)
    assert set(docs) == set(branches)
    assert {sha for sha, d in docs.items() if d["mainline"]} == line
    assert len(await syncer.docs()) == 25


async def test_a_cursor_of_the_earlier_layout_continues_without_reimport(repo, syncer):
    for i in range(4):
        repo.commit(f"c{i}")
    repo.git("tag", "v1")
    cfg = _cfg(repo)
    first = await syncer(cfg)
    assert first.commits == 4 and first.tags == 1
    stored = await syncer.state.get("git:policy")
    old_layout = {"branches": {"refs/heads/main": repo.head("main")},
                  "tags": {"refs/tags/v1": [repo.head("v1"), repo.head("v1")]},
                  "url": str(repo.path), "synced_at": "2026-11-01T00:00:00Z"}
    await syncer.state.put("git:policy", old_layout, stored)
    again = await syncer(cfg, page_size=2)
    assert (again.commits, again.documents, again.indexed, again.duplicates) == (0, 0, 0, 0)
    new = [repo.commit("c4"), repo.commit("c5"), repo.commit("c6")]
    third = await syncer(cfg, page_size=2)
    assert third.commits == 3 and third.indexed == 3 and third.duplicates == 0
    assert set(new) <= set(await _commits(syncer)) and len(await syncer.docs()) == 8


async def test_daemon_git_job_keeps_its_source_across_runs_and_closes_it(repo, store, tmp_path,
                                                                         wiring_context):
    from monitor.daemon.adapters import _wire_git
    from monitor.daemon.components import Components
    from monitor.settings import settings_from_dict

    for i in range(3):
        repo.commit(f"c{i}")
    repo.git("tag", "v1")
    settings = settings_from_dict({"sources": {"git": [{
        "name": "policy", "url": str(repo.path), "mirror_dir": str(tmp_path / "mirrors")}]}})
    ctx = wiring_context(settings)
    components = Components()
    _wire_git(ctx, components)
    job = next(j for j in components.jobs if j.id == "source:policy")
    assert job.source == "policy" and "policy" in components.quiet_sources
    first = await job.func()
    repo.commit("c3")
    second = await job.func()
    assert first is not None and second is not None
    assert first.counts == {"commits": 3, "tags": 1, "indexed": 4, "rewrites": 0}
    assert second.counts == {"commits": 1, "tags": 0, "indexed": 1, "rewrites": 0}
    cursor = await ctx.state.get("git:policy")
    assert cursor is not None and set(cursor.value) == {"branches", "tags", "url", "synced_at"}
    assert (tmp_path / "mirrors" / "policy.git" / "HEAD").exists()
    assert len(components.closers) == 1
    for close in components.closers:
        await close()
