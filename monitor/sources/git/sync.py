"""One sync of one repository: plan the branches, read what is new, write the documents, then
advance the cursor (see the package's docstring for the whole story).
"""
from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import ConflictError, SourceError
from ...identifiers import OBJECT_ID
from ..base import SyncStats
from ..cursors import cursor_key
from .mirror import Mirror, SignatureCache
from .records import GitCommit, GitError, GitTag, Signature
from .runner import Git, redact_url

if TYPE_CHECKING:  # pragma: no cover
    from ...settings import GitRepoSource
    from ...store import BulkWriter, StateStore

log = logging.getLogger("monitor.sources.git")


@dataclass(slots=True)
class BranchPlan:
    ref: str
    new: str
    old: str | None
    include: str
    exclude: list[str]
    rewrite: bool = False
    merge_base: str | None = None
    total: int = 0


def select_branches(heads: dict[str, str], patterns: Sequence[str],
                    protected: Sequence[str]) -> list[str]:
    """Full refnames of the heads matching ``patterns`` (exact names or fnmatch globs),
    protected branches first, then by name."""
    chosen = []
    for ref in heads:
        short = ref.removeprefix("refs/heads/")
        if any(short == p or fnmatch.fnmatchcase(short, p) for p in patterns):
            chosen.append(ref)
    return sorted(chosen, key=lambda r: (r.removeprefix("refs/heads/") not in protected, r))


def plan_branches(git: Git, refs: Sequence[str], tips: dict[str, str],
                  since: str | None, count: bool = True) -> list[BranchPlan]:
    plans: list[BranchPlan] = []
    done_tips: list[str] = []
    for ref in refs:
        new = git.resolve(ref)
        if new is None:
            log.warning("branch %r does not point at a commit; skipped", ref[:200])
            continue
        old = tips.get(ref)
        plan = BranchPlan(ref, new, old, new, [])
        if old == new:
            done_tips.append(new)
            plan.exclude = [new]
            plans.append(plan)
            continue
        if old and OBJECT_ID.match(old):
            if git.has_commit(old) and git.is_ancestor(old, new):
                plan.exclude = [old]
            else:
                plan.rewrite = True
                plan.merge_base = git.merge_base(old, new) if git.has_commit(old) else None
                plan.exclude = [plan.merge_base] if plan.merge_base else []
        plan.exclude += [t for t in done_tips if t not in plan.exclude]
        if count:  # only for a progress bar: one more walk
            plan.total = git.count([new], plan.exclude, since if not old else None)
        done_tips.append(new)
        plans.append(plan)
    return plans


def diff_tags(old: dict[str, list[str]], tags: list[GitTag]) -> tuple[
        list[GitTag], list[tuple[GitTag, list[str]]], list[tuple[str, list[str]]]]:
    """(created, moved [(tag, old [object, target])], deleted [(ref, old)])."""
    created, moved = [], []
    now = {t.ref: t for t in tags}
    for tag in tags:
        previous = old.get(tag.ref)
        if previous is None:
            created.append(tag)
        elif previous[0] != tag.object_sha:
            moved.append((tag, previous))
    deleted = [(ref, value) for ref, value in sorted(old.items()) if ref not in now]
    return created, moved, deleted


# -- the sync --------------------------------------------------------------------------------

ProgressFn = Callable[[int, int], None]


async def sync_repo(cfg: GitRepoSource, writer: BulkWriter, state: StateStore,
                    cache_dir: Path | None = None, *, since: str | None = None,
                    progress: ProgressFn | None = None, batch: int = 5000,
                    now: datetime | None = None) -> SyncStats:
    """Fetch ``cfg``'s mirror and index what changed since the last run (see module doc).

    ``cache_dir`` defaults to ``cfg.mirror_dir``; ``since`` (ISO date) limits a first import;
    ``progress(done, total)`` is called per batch."""
    from ...normalize import changes

    cache_dir = Path(cache_dir if cache_dir is not None else cfg.mirror_dir)
    started = time.monotonic()
    stats = SyncStats(cfg.name, "git")
    detected = (now or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    key = cursor_key("git", cfg.name)
    try:
        mirror = Mirror(cfg, Path(cache_dir))
        await asyncio.to_thread(mirror.ensure)
        await asyncio.to_thread(mirror.fetch)
        git = mirror.git
        current = await state.get(key)
        value = dict(current.value) if current else {}
        tips: dict[str, str] = dict(value.get("branches") or {})
        old_tags: dict[str, list[str]] = dict(value.get("tags") or {})
        heads = await asyncio.to_thread(git.heads)
        refs = _branches(cfg, heads, tips, stats)
        plans = await asyncio.to_thread(plan_branches, git, refs, tips, since,
                                        progress is not None)
        tags = await asyncio.to_thread(git.tags) if cfg.tags else []
        cache = SignatureCache(Path(cache_dir) / f"{cfg.name}.signatures.json",
                               cfg.allowed_signers_file)
        source = changes.RepoInfo(cfg.name, redact_url(cfg.url) if mirror.scheme != "local"
                                  else cfg.url, ticket_pattern=cfg.ticket_pattern)
        total = sum(p.total for p in plans)
        done = 0

        events = await _rewrites(git, cfg.name, plans, source, detected, stats)
        if cfg.tags:
            events += await _tag_events(git, cfg.name, old_tags, tags, source, detected, stats)

        def produce() -> Iterator[list[Any]]:
            """Runs in a worker thread: git, parsing and document building, batch by batch."""
            for plan in plans:
                if plan.include in plan.exclude:
                    continue
                for chunk in _batches(git, cache, plan, since if not plan.old else None, batch):
                    yield [changes.commit_document(source, plan.ref, commit, sig,
                                                   mainline=mainline)
                           for commit, sig, mainline in chunk]

        async def counted() -> AsyncIterator[Any]:
            nonlocal done
            for doc in events:
                stats.documents += 1
                yield doc
            batches = _prefetch(produce) if PREFETCH else _inline(produce)
            async for docs in batches:
                for doc in docs:
                    yield doc
                stats.commits += len(docs)
                stats.documents += len(docs)
                done += len(docs)
                if progress:
                    progress(done, total)

        result = await writer.write(counted(), label=f"git:{cfg.name}",
                                    check_time=True)  # commit dates are the author's claim
        stats.add_result(result)
        await asyncio.to_thread(cache.save)
        value = {"branches": {**tips, **{p.ref: p.new for p in plans}},
                 "tags": {t.ref: [t.object_sha, t.target_sha] for t in tags} if cfg.tags
                 else old_tags,
                 "url": source.url, "synced_at": detected}
        await _advance(state, key, value, current, cfg.name)
    except SourceError:
        stats.errors += 1
        raise
    finally:
        stats.seconds = time.monotonic() - started
    return stats


def _branches(cfg: GitRepoSource, heads: dict[str, str], tips: dict[str, str],
              stats: SyncStats) -> list[str]:
    """The configured branches that exist; warns about none matching and recorded ones gone."""
    refs = select_branches(heads, cfg.branches, cfg.protected_branches)
    if not refs:
        stats.warnings.append(f"no branch matches {cfg.branches}")
        log.warning("git %s: no branch matches %s", cfg.name, cfg.branches)
    gone = sorted(ref for ref in tips if ref not in heads)
    if gone:
        stats.warnings.append(f"{len(gone)} recorded branch(es) no longer exist")
        log.warning("git %s: branches gone since the last run: %s", cfg.name,
                    ", ".join(r[:100] for r in gone[:10]))
    return refs


async def _advance(state: StateStore, key: str, value: dict[str, Any], current: Any,
                   name: str) -> None:
    """Move the repository's cursor (after the write), compare-and-set."""
    try:
        await state.put(key, value, current)
    except ConflictError:
        raise GitError(f"git {name}: another instance synced this repository "
                       "concurrently; state not advanced") from None


async def _rewrites(git: Git, name: str, plans: list[BranchPlan], source: Any, detected: str,
                    stats: SyncStats) -> list[Any]:
    """A ``history_rewrite`` document per force-pushed branch; the old tip stays reachable."""
    from ...normalize import changes

    events: list[Any] = []
    for plan in plans:
        if plan.rewrite:
            assert plan.old is not None
            events.append(changes.rewrite_document(source, plan.ref, plan.old, plan.new,
                                                   plan.merge_base, detected))
            stats.rewrites += 1
            # keep the rewritten commits reachable in the mirror (evidence, CHK-08)
            ref_hash = hashlib.sha256(plan.ref.encode()).hexdigest()[:12]
            archive = f"refs/daemon/archive/{ref_hash}/{plan.old}"
            if await asyncio.to_thread(git.has_commit, plan.old):
                await asyncio.to_thread(git.update_ref, archive, plan.old)
            log.warning("git %s: history rewritten on %s (%s -> %s)", name,
                        plan.ref[:200], plan.old[:12], plan.new[:12])
    return events


async def _tag_events(git: Git, name: str, old_tags: dict[str, list[str]], tags: list[GitTag],
                      source: Any, detected: str, stats: SyncStats) -> list[Any]:
    """Documents for created, moved and deleted tags (signed tags verified)."""
    from ...normalize import changes

    events: list[Any] = []
    created, moved, deleted = diff_tags(old_tags, tags)
    for tag in created + [t for t, _ in moved]:  # a moved tag is also a new tag
        sig = await asyncio.to_thread(git.verify_tag, tag.object_sha) if tag.signed else None
        events.append(changes.tag_document(source, tag, sig))
    for tag, previous in moved:
        events.append(changes.tag_moved_document(source, tag, previous, detected))
    for ref, previous in deleted:
        events.append(changes.tag_deleted_document(source, ref, previous, detected))
    stats.tags += len(created)
    stats.rewrites += len(moved) + len(deleted)
    if moved or deleted:
        log.warning("git %s: %d tag(s) moved, %d deleted", name, len(moved), len(deleted))
    return events


#: build documents in a worker thread ahead of indexing (False: in the event loop, batch by
#: batch, git and parsing still in a thread)
PREFETCH = True


async def _inline(produce: Callable[[], Iterator[list[Any]]]) -> AsyncIterator[list[Any]]:
    iterator = produce()
    try:
        while True:
            item = await asyncio.to_thread(next, iterator, None)
            if item is None:
                return
            yield item
    finally:
        await asyncio.to_thread(iterator.close)  # type: ignore[attr-defined]  # produce() returns a generator, which has close()


async def _prefetch(produce: Callable[[], Iterator[list[Any]]], depth: int = 2
                    ) -> AsyncIterator[list[Any]]:
    """Run the ``produce`` generator in a thread, ``depth`` batches ahead of the consumer, so
    git and parsing overlap with indexing. Stopping early stops the thread (and its git)."""
    import threading

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item: Any) -> bool:
        future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
        while not stop.is_set():
            try:
                future.result(timeout=0.5)
                return True
            except TimeoutError:
                continue
        future.cancel()
        return False

    def work() -> None:
        iterator = produce()
        try:
            for item in iterator:
                if not put(item):
                    return
            put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(exc)
        finally:
            close = getattr(iterator, "close", None)
            if close:
                close()

    thread = threading.Thread(target=work, name="git-produce", daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while not queue.empty():
            queue.get_nowait()
        await asyncio.to_thread(thread.join, 30)


def _batches(git: Git, cache: SignatureCache, plan: BranchPlan, since: str | None,
             size: int) -> Iterator[list[tuple[GitCommit, Signature | None, bool]]]:
    """(commit, signature, on the first-parent line) in batches of ``size``.

    Three git processes overlap: the first-parent walk, the ``git log`` stream and the
    signature pass of the previous batch (on a second core, while this one is parsed)."""
    from concurrent.futures import Future, ThreadPoolExecutor

    def verify(batch: list[GitCommit]) -> dict[str, Signature]:
        return git.signatures([c.sha for c in batch if cache.get(c.sha) is None])

    def finish(batch: list[GitCommit], found: Future[dict[str, Signature]],
               mainline: set[str]) -> list[tuple[GitCommit, Signature | None, bool]]:
        verdicts = found.result()
        out = []
        for commit in batch:
            sig = cache.get(commit.sha) or verdicts.get(commit.sha)
            if sig is not None:
                cache.put(commit.sha, sig)
            out.append((commit, sig, commit.sha in mainline))
        return out

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="git") as pool:
        walk = pool.submit(git.first_parent, plan.include, plan.exclude)
        previous: tuple[list[GitCommit], Future[dict[str, Signature]]] | None = None
        pending: list[GitCommit] = []
        try:
            for commit in git.commits([plan.include], plan.exclude, since):
                pending.append(commit)
                if len(pending) >= size:
                    future = pool.submit(verify, pending)
                    if previous is not None:
                        yield finish(*previous, walk.result())
                    previous, pending = (pending, future), []
            if previous is not None:
                yield finish(*previous, walk.result())
            if pending:
                yield finish(pending, pool.submit(verify, pending), walk.result())
        finally:
            walk.cancel()
