"""``monitor ingest git``: import change history (Git, GitHub, GitLab, Argo CD) now.

::

    monitor ingest git                      # every configured change source
    monitor ingest git --repo policy        # one (a git, github, gitlab or argocd source name)
    monitor ingest git --since 2026-01-01   # backfill every selected source from a date
    monitor ingest git --json               # summary as JSON

The same runs the daemon schedules (the pull sources of git repositories and forges through the
ingest pipeline); cursors are shared with it, so a manual run never duplicates what the daemon
already indexed, and a git import runs to its end, page by page. ``--since``
moves each selected source's cursor back to the date first (never forward; see
``monitor.sources.cursors``), so a forge can be backfilled past its ``initial_lookback_days``.
A progress bar on stderr shows a large import (a first full one); a summary line per source is
printed at the end. Exit 1 when any source failed (the others still ran).
"""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from .common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    CommandGroups,
    emit,
    fail,
    guarded,
    iso_date,
    load_or_exit,
    run_async,
)
from .progress import Progress

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["register", "change_sources"]

KINDS = ("git", "github", "gitlab", "argocd")


def register(groups: CommandGroups) -> None:
    ingest = groups.group("ingest", "import exported logs and history into Elasticsearch")
    git = ingest.add_parser("git", help="index change history: git repositories, GitHub, GitLab, "
                            "Argo CD (every configured source unless --repo narrows it)",
                            description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    git.add_argument("--repo", action="append", metavar="NAME",
                     help="only this source (repeatable); default: all change sources")
    git.add_argument("--kind", action="append", choices=KINDS,
                     help="only sources of this kind (repeatable)")
    git.add_argument("--since", metavar="DATE",
                     help="backfill from DATE (ISO): moves each selected source's cursor back")
    git.add_argument("--forges", action="store_true", help=argparse.SUPPRESS)  # now the default
    git.add_argument("--json", action="store_true", help="summary as JSON")
    git.add_argument("--no-progress", action="store_true")
    git.set_defaults(handler=guarded(_ingest_git))


def change_sources(settings: Settings) -> list[tuple[str, Any]]:
    """Every configured change source as ``(kind, config)``, in a stable order."""
    return [(kind, cfg) for kind in KINDS for cfg in getattr(settings.sources, kind)]


def _ingest_git(args: argparse.Namespace) -> int:
    settings = load_or_exit(args)
    since = iso_date(args.since, "--since")
    sources = change_sources(settings)
    if args.repo:
        unknown = set(args.repo) - {s.name for _, s in sources}
        if unknown:
            return fail(f"no change source named {', '.join(sorted(unknown))}", EXIT_USAGE)
        sources = [(k, s) for k, s in sources if s.name in args.repo]
    if args.kind:
        sources = [(k, s) for k, s in sources if k in args.kind]
    if not sources:
        return fail("no change sources selected (configure sources.git, sources.github, "
                    "sources.gitlab or sources.argocd in the settings file)", EXIT_USAGE)
    results = run_async(lambda: _sync_all(settings, sources, since, not args.no_progress))
    emit(results, args.json, _summary)
    return EXIT_OK if all(r["ok"] for r in results) else EXIT_FAIL


async def _sync_all(settings: Settings, sources: list[tuple[str, Any]], since: str | None,
                    show_progress: bool) -> list[dict[str, Any]]:
    from ..daemon.forge_runs import MAX_ROUNDS, ingest_changes
    from ..errors import MonitorError
    from ..sources.cursors import cursor_keys, rewind
    from ..sources.forges import pull_sources
    from ..sources.git import GitRepository
    from ..store import BulkWriter, StateStore, open_store
    from ..store.setup import template_status

    store = open_store(settings.elasticsearch)
    try:
        statuses = {s.name: s.action for s in await template_status(store)}
        needed = [store.names.template(k) for k in ("changes", "state")]
        if any(statuses.get(name) != "unchanged" for name in needed):
            raise MonitorError("index templates missing or outdated: run `monitor es setup`")
        writer, state = BulkWriter(store), StateStore(store)
        results: list[dict[str, Any]] = []
        for kind, cfg in sources:
            progress = Progress(show_progress, cfg.name, "commits", minimum=1000)
            try:
                rewound = (await rewind(state, cfg, cursor_keys(kind, cfg), since)
                           if since else [])
                pulls = [GitRepository(cfg, cfg.mirror_dir, since=since, progress=progress)] \
                    if kind == "git" else pull_sources(kind, cfg)
                try:
                    stats = await ingest_changes(pulls, kind, cfg.name, writer, state,
                                                 max_rounds=None if kind == "git" else MAX_ROUNDS)
                finally:
                    for pull in pulls:
                        await pull.close()
                results.append({"ok": True, "rewound": len(rewound), **stats.as_dict()})
            except MonitorError as exc:
                results.append({"ok": False, "source": cfg.name, "kind": kind,
                                "error": str(exc)})
            finally:
                progress.close()
        return results
    finally:
        await store.close()


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
        if r.get("rewound"):
            parts.insert(0, f"cursor moved back ({r['rewound']} key(s))")
        lines.append(f"{r['source']} ({r['kind']}): " + ", ".join(parts) +
                     f" in {r['seconds']:.1f}s")
    return "\n".join(lines)
