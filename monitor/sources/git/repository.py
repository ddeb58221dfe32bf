"""A configured git repository as a pull source (``sources/base.py``), read a page at a time.

A run starts with a plan: fetch the mirror, pin every configured branch's tip, find history
rewrites and tag changes. Those events go into the first page, together with the first
``page_size`` commits; the cursor then records the tags as they are now and, while branches are
left to read, the ``Position`` of the next page (``pending``). Later fetches continue from it
without planning again, so a rewrite or a tag change is reported once however many pages the
run takes. A branch's tip is recorded (``branches``) once its last page is written; a failed
write or a restart repeats at most one page (stable ids make the repeat duplicates).

Cursor (state key ``git:<name>``, the layout of earlier versions plus ``pending``)::

    {"branches": {"refs/heads/main": "<sha>"}, "tags": {"refs/tags/v1": ["<object>", "<sha>"]},
     "url": "...", "synced_at": "...",
     "pending": {"plans": [{"ref", "new", "exclude", "since"}], "done": 10000,
                 "mainline": "<sha>"}}                          # only while pages are left
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...model import DeadLetter, Document
from ...normalize import changes
from ..base import Batch
from ..cursors import cursor_key
from .mirror import Mirror, SignatureCache
from .pages import Page, page_stream, read_pages
from .plan import BranchPlan, Pin, Position, diff_tags, plan_branches, select_branches
from .records import GitTag
from .runner import Git, redact_url

if TYPE_CHECKING:  # pragma: no cover
    from ...settings import GitRepoSource

__all__ = ["PAGE_SIZE", "GitRecord", "GitRepository"]

log = logging.getLogger("monitor.sources.git")

#: commits per page (per fetch): what one write holds, and what a failed write repeats. Each
#: page ends with its write acknowledged (Elasticsearch idle until the next page's first
#: chunk), so fewer, larger pages import faster: 10,000 took ~18% less time than 5,000 (60k
#: commits into Elasticsearch). A page of plain commits is ~15 MB; up to three are held (one
#: written, one queued, one being read)
PAGE_SIZE = 10_000

#: one item as read, built into a document by ``normalize``: ("commit", ref, commit,
#: signature, mainline), ("rewrite", ref, old, new, merge base, detected), ("tag", tag,
#: signature), ("tag_moved", tag, previous, detected) or ("tag_deleted", ref, previous, detected)
GitRecord = tuple[Any, ...]

ProgressFn = Callable[[int, int], None]


class _Reader:
    """A live page stream and the position its next page starts from."""

    def __init__(self, pages: AsyncIterator[Page], start: Position) -> None:
        self.pages, self.expect, self.opened = pages, start, time.monotonic()


class GitRepository:
    """One configured repository (see module doc). ``since`` (ISO date) limits a first
    import; ``progress(done, total)`` is told after every page (the command's progress bar).
    Kept across runs by the daemon: a walk left open between pages is reused while it is
    younger than half the git timeout."""

    check_time = True  # commit dates are the author's claim

    def __init__(self, cfg: GitRepoSource, cache_dir: Path | None = None, *,
                 since: str | None = None, progress: ProgressFn | None = None,
                 page_size: int = PAGE_SIZE, now: datetime | None = None) -> None:
        self.cfg = cfg
        self.name = f"git:{cfg.name}"
        self.cursor_key = cursor_key("git", cfg.name)
        self.cache_dir = Path(cache_dir if cache_dir is not None else cfg.mirror_dir)
        self.since, self.progress, self.page_size, self._now = since, progress, page_size, now
        self.repo = changes.RepoInfo(cfg.name, redact_url(cfg.url),
                                     ticket_pattern=cfg.ticket_pattern)
        self.more = False
        self.warnings: list[str] = []
        self._mirror: Mirror | None = None
        self._cache: SignatureCache | None = None
        self._reader: _Reader | None = None
        self._done = 0
        self._total: int | None = None

    async def fetch(self, cursor: dict[str, Any] | None) -> Batch[GitRecord]:
        value: dict[str, Any] = dict(cursor or {})
        mirror = self._mirror or Mirror(self.cfg, self.cache_dir)
        self._mirror = mirror
        records: list[GitRecord] = []
        counts = {"documents": 0, "commits": 0, "tags": 0, "rewrites": 0}
        position = await self._resume(mirror.git, value.get("pending"))
        if position is None:
            position, records = await self._plan(mirror, value, counts)
        page = await self._page(mirror.git, position) if position is not None else Page()
        records += [("commit", *item) for item in page.commits]
        counts["commits"] = len(page.commits)
        counts["documents"] = len(records)
        value["branches"] = {**(value.get("branches") or {}),
                             **{pin.ref: pin.new for pin in page.completed}}
        value["synced_at"] = self._detected()
        value.pop("pending", None)
        if page.after is not None:
            value["pending"] = page.after.as_json()
        self.more = page.after is not None
        if self.progress is not None and page.commits:
            self._done += len(page.commits)
            self.progress(self._done, max(self._total or 0, self._done))
        return Batch(records, value, counts)

    def normalize(self, record: GitRecord) -> Iterable[Document | DeadLetter]:
        kind, repo = record[0], self.repo
        if kind == "commit":
            _, ref, commit, sig, mainline = record
            return (changes.commit_document(repo, ref, commit, sig, mainline=mainline),)
        if kind == "rewrite":
            return (changes.rewrite_document(repo, *record[1:]),)
        if kind == "tag":
            return (changes.tag_document(repo, record[1], record[2]),)
        if kind == "tag_moved":
            return (changes.tag_moved_document(repo, *record[1:]),)
        return (changes.tag_deleted_document(repo, *record[1:]),)

    async def close(self) -> None:
        await self._drop_reader()

    # -- a run's plan ----------------------------------------------------------------------

    async def _plan(self, mirror: Mirror, value: dict[str, Any], counts: dict[str, int]
                    ) -> tuple[Position | None, list[GitRecord]]:
        """Fetch the mirror, pin the branches, and the run's events (rewrites, tags); the
        cursor's ``tags`` and ``url`` become what they are now."""
        await self._drop_reader()
        cfg, git = self.cfg, mirror.git
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(mirror.ensure)
        await asyncio.to_thread(mirror.fetch)
        tips: dict[str, str] = dict(value.get("branches") or {})
        old_tags: dict[str, list[str]] = dict(value.get("tags") or {})
        heads = await asyncio.to_thread(git.heads)
        refs = self._branches(heads, tips)
        plans = await asyncio.to_thread(plan_branches, git, refs, tips, self.since,
                                        self.progress is not None)
        tags = await asyncio.to_thread(git.tags) if cfg.tags else []
        self._cache = SignatureCache(self.cache_dir / f"{cfg.name}.signatures.json",
                                     cfg.allowed_signers_file)
        detected = self._detected()
        records = await asyncio.to_thread(_rewrites, git, cfg.name, plans, detected, counts)
        if cfg.tags:
            records += await asyncio.to_thread(_tag_events, git, cfg.name, old_tags, tags,
                                               detected, counts)
            value["tags"] = {t.ref: [t.object_sha, t.target_sha] for t in tags}
        else:
            value["tags"] = old_tags
        value["url"] = self.repo.url
        value["branches"] = {**tips, **{p.ref: p.new for p in plans if p.include in p.exclude}}
        pins = [Pin(p.ref, p.new, tuple(p.exclude), self.since if not p.old else None)
                for p in plans if p.include not in p.exclude]
        self._done, self._total = 0, sum(p.total for p in plans)
        return Position.start(pins), records

    def _branches(self, heads: dict[str, str], tips: dict[str, str]) -> list[str]:
        """The configured branches that exist; warns about none matching and recorded ones
        gone."""
        cfg = self.cfg
        self.warnings = []
        refs = select_branches(heads, cfg.branches, cfg.protected_branches)
        if not refs:
            self.warnings.append(f"no branch matches {cfg.branches}")
            log.warning("git %s: no branch matches %s", cfg.name, cfg.branches)
        gone = sorted(ref for ref in tips if ref not in heads)
        if gone:
            self.warnings.append(f"{len(gone)} recorded branch(es) no longer exist")
            log.warning("git %s: branches gone since the last run: %s", cfg.name,
                        ", ".join(r[:100] for r in gone[:10]))
        return refs

    # -- pages -----------------------------------------------------------------------------

    async def _resume(self, git: Git, pending: Any) -> Position | None:
        """The position a cursor's ``pending`` holds, if every SHA it pins is still in the
        mirror (else None: the run is planned afresh)."""
        position = Position.from_json(pending) if pending is not None else None
        if position is None:
            if pending is not None:
                log.warning("git %s: unreadable page position in the cursor; planning afresh",
                            self.cfg.name)
            return None
        reader = self._reader
        if reader is not None and reader.expect == position:
            return position  # the open walk continues from here
        shas = {sha for pin in position.plans for sha in pin.shas()}
        present = await asyncio.to_thread(lambda: all(git.has_commit(s) for s in shas))
        if not present:
            log.warning("git %s: a pinned commit is gone from the mirror; planning afresh",
                        self.cfg.name)
            return None
        if self.progress is not None and self._total is None:
            counted = await asyncio.to_thread(
                lambda: sum(git.count([p.new], p.exclude, p.since) for p in position.plans))
            self._total = counted - position.done
        return position

    async def _page(self, git: Git, position: Position) -> Page:
        """The next page from ``position``: from the open walk when it stands there and is
        fresh, else from a new one (which skips what was read)."""
        reader = self._reader
        if reader is None or reader.expect != position \
                or time.monotonic() - reader.opened > git.timeout / 2:
            await self._drop_reader()
            cache = self._cache or SignatureCache(
                self.cache_dir / f"{self.cfg.name}.signatures.json",
                self.cfg.allowed_signers_file)
            self._cache = cache
            size = self.page_size
            reader = self._reader = _Reader(
                page_stream(lambda: read_pages(git, cache, position, size)), position)
        try:
            page = await anext(reader.pages, None)
        except BaseException:
            await self._drop_reader()
            raise
        if page is None or page.after is None:
            await self._drop_reader()
            return page or Page()
        reader.expect = page.after
        return page

    async def _drop_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.pages.aclose()  # type: ignore[attr-defined]  # an async generator

    def _detected(self) -> str:
        return (self._now or datetime.now(UTC)).astimezone(UTC).isoformat() \
            .replace("+00:00", "Z")


def _rewrites(git: Git, name: str, plans: list[BranchPlan], detected: str,
              counts: dict[str, int]) -> list[GitRecord]:
    """A ``history_rewrite`` per force-pushed branch; the old tip stays reachable."""
    events: list[GitRecord] = []
    for plan in plans:
        if plan.rewrite:
            assert plan.old is not None
            events.append(("rewrite", plan.ref, plan.old, plan.new, plan.merge_base, detected))
            counts["rewrites"] += 1
            # keep the rewritten commits reachable in the mirror (evidence, CHK-08)
            ref_hash = hashlib.sha256(plan.ref.encode()).hexdigest()[:12]
            if git.has_commit(plan.old):
                git.update_ref(f"refs/daemon/archive/{ref_hash}/{plan.old}", plan.old)
            log.warning("git %s: history rewritten on %s (%s -> %s)", name,
                        plan.ref[:200], plan.old[:12], plan.new[:12])
    return events


def _tag_events(git: Git, name: str, old_tags: dict[str, list[str]], tags: list[GitTag],
                detected: str, counts: dict[str, int]) -> list[GitRecord]:
    """Created, moved and deleted tags (signed tags verified)."""
    events: list[GitRecord] = []
    created, moved, deleted = diff_tags(old_tags, tags)
    for tag in created + [t for t, _ in moved]:  # a moved tag is also a new tag
        events.append(("tag", tag, git.verify_tag(tag.object_sha) if tag.signed else None))
    events += [("tag_moved", tag, previous, detected) for tag, previous in moved]
    events += [("tag_deleted", ref, previous, detected) for ref, previous in deleted]
    counts["tags"] += len(created)
    counts["rewrites"] += len(moved) + len(deleted)
    if moved or deleted:
        log.warning("git %s: %d tag(s) moved, %d deleted", name, len(moved), len(deleted))
    return events
