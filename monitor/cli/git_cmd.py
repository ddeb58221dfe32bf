"""``monitor ingest git``: import Git history (and optionally forge evidence) now.

::

    monitor ingest git                      # every configured repository
    monitor ingest git --repo policy        # one (a git, github, gitlab or argocd source name)
    monitor ingest git --since 2026-01-01   # limit a first import
    monitor ingest git --forges             # also GitHub / GitLab / Argo CD sources
    monitor ingest git --json               # summary as JSON

The same one-shot calls the daemon schedules (``sync_repo``, ``sync_github`` …); cursors are
shared with it, so a manual run never duplicates what the daemon already indexed. A progress bar
on stderr shows a large import (a first full one); a summary is printed at the end. Exit 1 when
any source failed (the others still ran).
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from ..errors import MonitorError
from ..settings import Settings
from ..store import BulkWriter, StateStore, open_store
from ..store.setup import template_status
from .common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    CommandGroups,
    emit,
    fail,
    guarded,
    load_or_exit,
    run_async,
)

__all__ = ["register"]


def register(groups: CommandGroups) -> None:
    ingest = groups.group("ingest", "import exported logs and history into Elasticsearch")
    git = ingest.add_parser("git", help="index Git history of the configured repositories",
                            description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    git.add_argument("--repo", action="append", metavar="NAME",
                     help="only this source (repeatable); default: all git sources")
    git.add_argument("--since", metavar="DATE", help="first import: commits since DATE (ISO)")
    git.add_argument("--forges", action="store_true",
                     help="also GitHub, GitLab and Argo CD sources")
    git.add_argument("--json", action="store_true", help="summary as JSON")
    git.add_argument("--no-progress", action="store_true")
    git.set_defaults(handler=guarded(_ingest_git))


class _Progress:
    """A one-line bar on stderr (a line per 10 % when stderr is not a terminal)."""

    def __init__(self, enabled: bool, name: str, minimum: int = 1000) -> None:
        self.enabled = enabled
        self.name = name
        self.minimum = minimum
        self.tty = sys.stderr.isatty()
        self.started = time.monotonic()
        self.last_decile = -1
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < self.minimum:
            return
        fraction = min(1.0, done / total) if total else 1.0
        rate = done / max(1e-6, time.monotonic() - self.started)
        if self.tty:
            bar = "#" * int(fraction * 30)
            sys.stderr.write(f"\r{self.name[:20]:<20} [{bar:<30}] {fraction:4.0%} "
                             f"{done:,}/{total:,} commits {rate:,.0f}/s")
            sys.stderr.flush()
            self.shown = True
        elif int(fraction * 10) > self.last_decile:
            self.last_decile = int(fraction * 10)
            print(f"{self.name}: {done:,}/{total:,} commits ({fraction:.0%}, {rate:,.0f}/s)",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _selected(settings: Settings, names: list[str] | None, forges: bool) -> list[tuple[str, Any]]:
    sources: list[tuple[str, Any]] = [("git", s) for s in settings.sources.git]
    if forges or names:
        sources += [("github", s) for s in settings.sources.github]
        sources += [("gitlab", s) for s in settings.sources.gitlab]
        sources += [("argocd", s) for s in settings.sources.argocd]
    if names:
        sources = [(k, s) for k, s in sources if s.name in names]
    return sources


def _ingest_git(args: argparse.Namespace) -> int:
    settings = load_or_exit(args)
    since = None
    if args.since:
        try:
            since = date.fromisoformat(args.since[:10]).isoformat()
        except ValueError:
            return fail(f"--since: not an ISO date: {args.since!r}", EXIT_USAGE)
    sources = _selected(settings, args.repo, args.forges)
    if args.repo:
        unknown = set(args.repo) - {s.name for _, s in sources}
        if unknown:
            return fail(f"no git/forge source named {', '.join(sorted(unknown))}", EXIT_USAGE)
    if not sources:
        return fail("no git sources configured (sources.git in the settings file)", EXIT_USAGE)

    async def go() -> list[dict[str, Any]]:
        from ..sources.forges import sync_argocd, sync_github, sync_gitlab
        from ..sources.git import sync_repo

        store = open_store(settings.elasticsearch)
        try:
            statuses = {s.name: s.action for s in await template_status(store)}
            needed = [store.names.template(k) for k in ("changes", "state")]
            if any(statuses.get(name) != "unchanged" for name in needed):
                raise MonitorError("index templates missing or outdated: run `monitor es setup`")
            writer, state = BulkWriter(store), StateStore(store)
            results: list[dict[str, Any]] = []
            for kind, cfg in sources:
                progress = _Progress(not args.no_progress, cfg.name)
                try:
                    if kind == "git":
                        mirror_dir = cfg.mirror_dir if cfg.mirror_dir.is_absolute() else \
                            settings.base_dir / cfg.mirror_dir
                        stats = await sync_repo(cfg, store, writer, state, Path(mirror_dir),
                                                since=since, progress=progress)
                    elif kind == "github":
                        stats = await sync_github(cfg, store, writer, state)
                    elif kind == "gitlab":
                        stats = await sync_gitlab(cfg, store, writer, state)
                    else:
                        stats = await sync_argocd(cfg, store, writer, state)
                    results.append({"ok": True, **stats.as_dict()})
                except MonitorError as exc:
                    results.append({"ok": False, "source": cfg.name, "kind": kind,
                                    "error": str(exc)})
                finally:
                    progress.close()
            return results
        finally:
            await store.close()

    results = run_async(go)
    emit(results, args.json, _summary)
    return EXIT_OK if all(r["ok"] for r in results) else EXIT_FAIL


def _summary(results: list[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        if not r["ok"]:
            lines.append(f"{r['source']} ({r['kind']}): FAILED: {r['error']}")
            continue
        parts = [f"{r['documents']:,} documents"]
        if r["kind"] == "git":
            parts.insert(0, f"{r['commits']:,} commits, {r['tags']:,} tags")
        if r["rewrites"]:
            parts.append(f"{r['rewrites']} rewrite/tag events")
        if r["gaps"]:
            parts.append(f"{r['gaps']} history gaps")
        parts.append(f"{r['indexed']:,} indexed, {r['duplicates']:,} already known")
        if r["dead_lettered"]:
            parts.append(f"{r['dead_lettered']:,} dead-lettered")
        if r["kind"] != "git":
            parts.append(f"{r['requests']} requests ({r['not_modified']} not modified, "
                         f"{r['rate_limit_waits']} rate-limit waits)")
        lines.append(f"{r['source']} ({r['kind']}): " + ", ".join(parts) +
                     f" in {r['seconds']:.1f}s")
    return "\n".join(lines)
