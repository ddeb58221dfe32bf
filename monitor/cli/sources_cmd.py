"""``monitor sources list|reset``: the configured change sources and their cursors.

``reset NAME`` starts a source over (its next run reads from ``initial_lookback_days`` back, or
from ``--since``); stable document ids keep the re-read from duplicating anything. It asks for
the source's name as confirmation, or takes ``--yes``.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from .common import (
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
from .git_cmd import change_sources

__all__ = ["register"]


def register(groups: CommandGroups) -> None:
    sub = groups.group("sources", "change sources and their cursors: list, reset")
    p = sub.add_parser("list", help="configured change sources and where their cursors stand")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=guarded(_list))
    p = sub.add_parser("reset", help="move a source's cursor back (to --since, or to the start)")
    p.add_argument("name", help="a git, github, gitlab or argocd source name")
    p.add_argument("--since", metavar="DATE", help="rewind to this date (ISO) instead of the start")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=guarded(_reset))


def _list(args: argparse.Namespace) -> int:
    from ..sources.cursors import cursor_keys
    from ..store import StateStore, open_store

    settings = load_or_exit(args)

    async def go() -> list[dict[str, Any]]:
        store = open_store(settings.elasticsearch)
        try:
            state = StateStore(store)
            rows = []
            for kind, cfg in change_sources(settings):
                cursors = {}
                for key in cursor_keys(kind, cfg):
                    doc = await state.get(key)
                    cursors[key] = doc.value if doc else None
                rows.append({"name": cfg.name, "kind": kind, "cursors": cursors})
            return rows
        finally:
            await store.close()

    rows = run_async(go)
    emit(rows, args.json, lambda d: "\n".join(
        f"{r['name']:<20} {r['kind']:<7} "
        f"{sum(v is not None for v in r['cursors'].values())}/{len(r['cursors'])} cursor(s) stored"
        for r in d) or "no change sources configured")
    return EXIT_OK


def _reset(args: argparse.Namespace) -> int:
    from ..sources.cursors import cursor_keys, rewind
    from ..store import StateStore, open_store

    settings = load_or_exit(args)
    found = [(k, c) for k, c in change_sources(settings) if c.name == args.name]
    if not found:
        return fail(f"no change source named {args.name!r} (see `monitor sources list`)",
                    EXIT_USAGE)
    kind, cfg = found[0]
    since = iso_date(args.since, "--since")
    if not args.yes:
        if not sys.stdin.isatty():
            return fail("reset asks for confirmation: run it in a terminal or add --yes",
                        EXIT_USAGE)
        what = f"back to {since}" if since else "to the start"
        answer = input(f"move the cursor of {kind} source {cfg.name!r} {what}? "
                       f"type its name to confirm: ")
        if answer.strip() != cfg.name:
            return fail("not confirmed; nothing changed", EXIT_USAGE)

    async def go() -> list[str]:
        store = open_store(settings.elasticsearch)
        try:
            return await rewind(StateStore(store), cfg, cursor_keys(kind, cfg), since)
        finally:
            await store.close()

    changed = run_async(go)
    emit({"source": cfg.name, "kind": kind, "since": since, "changed": changed}, args.json,
         lambda d: f"{d['source']} ({d['kind']}): {len(d['changed'])} cursor(s) moved "
                   f"{'back to ' + d['since'] if d['since'] else 'to the start'}; "
                   "the next run re-reads from there")
    return EXIT_OK
