"""Reading pinned branches a bounded page at a time, a page ahead of the writer.

``read_pages`` walks the branches of a ``Position`` with one ``git log --date-order`` per branch
and yields a ``Page`` every ``size`` commits, each with its signature verdicts (verified in
batches, the signature pass of one batch overlapping the parsing of the next) and whether it is
on its branch's first-parent line. The walk stays open between pages, so a first import reads
its history once; a reader that starts from a position another run left (a restart, a failed
write) skips what was read with ``--skip`` (git walks those commits but builds no diff).

``_prefetch`` runs such a generator in a worker thread, ahead of the consumer, so git and
parsing overlap with indexing, and stops the thread (and its git) when the consumer gives up.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from .mirror import SignatureCache
from .plan import Pin, Position
from .records import GitCommit, Signature
from .runner import Git

__all__ = ["PREFETCH", "Page", "read_pages"]

#: read pages in a worker thread ahead of indexing (False: in the event loop's turn, page by
#: page, git and parsing still in a thread)
PREFETCH = True

#: commits per signature pass (one git process each)
SIGNATURE_BATCH = 1000


@dataclass(slots=True)
class Page:
    """Up to a page of commits as (ref, commit, signature, on the first-parent line); the
    branches this page finished (their tips may be recorded once it is written) and where the
    next page starts (None: every branch is read)."""

    commits: list[tuple[str, GitCommit, Signature | None, bool]] = field(default_factory=list)
    completed: list[Pin] = field(default_factory=list)
    after: Position | None = None


def read_pages(git: Git, cache: SignatureCache, start: Position, size: int) -> Iterator[Page]:
    """Pages of at most ``size`` commits from ``start`` to the end of its last branch; a page
    is given only once a further commit exists (or nothing is left), so no page is empty
    unless there was nothing to read."""
    plans = list(start.plans)
    done, chain = start.done, start.mainline
    page: list[tuple[str, GitCommit, bool]] = []
    unsigned: list[GitCommit] = []
    checks: list[Future[dict[str, Signature]]] = []
    completed: list[Pin] = []

    def verify(batch: list[GitCommit]) -> dict[str, Signature]:
        return git.signatures([c.sha for c in batch if cache.get(c.sha) is None])

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="git-verify") as pool:
        def finish(after: Position | None) -> Page:
            nonlocal page, unsigned, checks, completed
            if unsigned:
                checks.append(pool.submit(verify, unsigned))
            verdicts: dict[str, Signature] = {}
            for check in checks:
                verdicts.update(check.result())
            out = Page([], completed, after)
            for ref, commit, mainline in page:
                sig = cache.get(commit.sha) or verdicts.get(commit.sha)
                if sig is not None:
                    cache.put(commit.sha, sig)
                out.commits.append((ref, commit, sig, mainline))
            cache.save()
            page, unsigned, checks, completed = [], [], [], []
            return out

        while plans:
            pin = plans[0]
            with closing(git.commits([pin.new], pin.exclude, pin.since, skip=done,
                                     date_order=True)) as walk:
                for commit in walk:
                    if len(page) >= size:
                        yield finish(Position(tuple(plans), done, chain))
                    on_line = commit.sha == chain
                    if on_line:
                        chain = commit.parents[0] if commit.parents else None
                    page.append((pin.ref, commit, on_line))
                    unsigned.append(commit)
                    done += 1
                    if len(unsigned) >= SIGNATURE_BATCH:
                        checks.append(pool.submit(verify, unsigned))
                        unsigned = []
            completed.append(plans.pop(0))
            done, chain = 0, plans[0].new if plans else None
        yield finish(None)


async def _inline(produce: Callable[[], Iterator[Any]]) -> AsyncIterator[Any]:
    iterator = produce()
    try:
        while True:
            item = await asyncio.to_thread(next, iterator, None)
            if item is None:
                return
            yield item
    finally:
        await asyncio.to_thread(iterator.close)  # type: ignore[attr-defined]  # produce() returns a generator, which has close()


async def _prefetch(produce: Callable[[], Iterator[Any]], depth: int = 2
                    ) -> AsyncIterator[Any]:
    """Run the ``produce`` generator in a thread, ``depth`` items ahead of the consumer, so
    git and parsing overlap with indexing. Stopping early stops the thread (and its git)."""
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


def page_stream(produce: Callable[[], Iterator[Page]]) -> AsyncIterator[Page]:
    """The pages of ``produce``, read one page ahead in a worker thread (``PREFETCH``) or one
    at a time in a thread when asked."""
    return _prefetch(produce, depth=1) if PREFETCH else _inline(produce)
