"""Real repositories built with the git CLI, and a helper that ingests one into the real ES
(a ``GitRepository`` driven page by page to its end, as ``monitor ingest git`` does)."""
from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from monitor.daemon.forge_runs import ingest_changes
from monitor.settings import GitRepoSource
from monitor.sources.git import GitRepository, SyncStats
from monitor.store import BulkWriter, StateStore
from monitor.store.search import refresh, search

_clock = itertools.count()


class Repo:
    """A work-tree repository driven by the git CLI with a clean, fixed environment."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = {"PATH": os.environ["PATH"], "HOME": str(path.parent), "LC_ALL": "C",
                    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
                    "GIT_TERMINAL_PROMPT": "0"}
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.name", "Alice")
        self.git("config", "user.email", "alice@example.com")
        self.git("config", "commit.gpgsign", "false")

    def git(self, *args: str, env: dict[str, str] | None = None,
            input: bytes | None = None) -> str:
        done = subprocess.run(["git", "-C", str(self.path), *args], env={**self.env, **(env or {})},
                              capture_output=True, input=input, check=False)
        if done.returncode != 0:
            raise AssertionError(f"git {args}: {done.stderr.decode(errors='replace')}")
        return done.stdout.decode("utf-8", "replace").strip()

    def commit(self, message: str | bytes, files: dict[str, str] | None = None, *,
               author: tuple[str, str] = ("Alice", "alice@example.com"),
               committer: tuple[str, str] | None = None, sign_key: Path | None = None) -> str:
        for name, content in (files or {f"f{next(_clock)}.txt": "x"}).items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            self.git("add", "--", name)
        tick = next(_clock)
        committer = committer or author
        env = {"GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1],
               "GIT_COMMITTER_NAME": committer[0], "GIT_COMMITTER_EMAIL": committer[1],
               "GIT_AUTHOR_DATE": f"2026-11-{1 + tick % 20:02d}T10:{tick % 60:02d}:00+01:00",
               "GIT_COMMITTER_DATE": f"2026-11-{1 + tick % 20:02d}T11:{tick % 60:02d}:00+01:00"}
        msg = message if isinstance(message, bytes) else message.encode()
        (self.path.parent / "msg.txt").write_bytes(msg)
        args = ["commit", "-q", "--allow-empty", "--cleanup=verbatim", "-F",
                str(self.path.parent / "msg.txt")]
        if sign_key is not None:
            args = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={sign_key}", *args, "-S"]
        self.git(*args, env=env)
        return self.head()

    def head(self, ref: str = "HEAD") -> str:
        return self.git("rev-parse", "--verify", "--end-of-options", ref)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "src")


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    path = tmp_path / "cache"
    path.mkdir()
    return path


class Syncer:
    def __init__(self, store: Any, cache_dir: Path) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self.writer = BulkWriter(store)
        self.state = StateStore(store)

    async def __call__(self, cfg: GitRepoSource, **kwargs: Any) -> SyncStats:
        """One run: ``kwargs`` go to ``GitRepository`` (``since``, ``page_size``, ``now``)."""
        source = GitRepository(cfg, self.cache_dir, **kwargs)
        try:
            stats = await ingest_changes([source], "git", cfg.name, self.writer, self.state,
                                         max_rounds=None)
        finally:
            await source.close()
        await refresh(self.store, ["changes"])
        return stats

    async def docs(self, **term: Any) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"match_all": {}}
        if term:
            query = {"bool": {"filter": [{"term": {k: v}} for k, v in term.items()]}}
        response = await search(self.store, "changes", {"query": query, "size": 1000})
        return [dict(hit["_source"], _id=hit["_id"]) for hit in response["hits"]["hits"]]


@pytest.fixture
def syncer(store: Any, cache_dir: Path) -> Syncer:
    return Syncer(store, cache_dir)
