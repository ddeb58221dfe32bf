"""``monitor findings list|show|ack|close``: read findings and move them through their
lifecycle (open → acknowledged → closed) with who and why kept in the document's history."""
from __future__ import annotations

import argparse
import getpass
from typing import Any

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

#: a listing is for people; an export of more findings reads the findings index directly
LIMIT_CAP = 1000


def register(groups: CommandGroups) -> None:
    sub = groups.group("findings", "threat findings: list, show, acknowledge, close")
    p = sub.add_parser("list", help="newest findings first")
    p.add_argument("--status", choices=["open", "acknowledged", "closed", "excepted"])
    p.add_argument("--rule", help="rule id")
    p.add_argument("--severity", choices=["low", "medium", "high", "critical"],
                   help="only findings of rules with this severity")
    p.add_argument("--limit", type=int, default=50, help=f"at most {LIMIT_CAP} (default 50)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=guarded(_list))
    p = sub.add_parser("show", help="one finding with its evidence and history")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=guarded(_show))
    for name, to, text in (("ack", "acknowledged", "acknowledge a finding"),
                           ("close", "closed", "close a finding")):
        p = sub.add_parser(name, help=text)
        p.add_argument("id")
        p.add_argument("--by", default=None, help="who (default: the login name)")
        p.add_argument("--why", required=True, help="reason, kept in the finding's history")
        p.add_argument("--json", action="store_true")
        p.set_defaults(handler=guarded(_move), to=to)


def _with_store(args: argparse.Namespace, work: Any) -> Any:
    from ..store import open_store

    settings = load_or_exit(args)

    async def go() -> Any:
        store = open_store(settings.elasticsearch)
        try:
            return await work(store)
        finally:
            await store.close()

    return run_async(go)


def _row(src: dict[str, Any]) -> dict[str, Any]:
    from ..findings.store import effective_status

    f = src["finding"]
    return {"id": f["id"], "status": effective_status(src), "severity": src["rule"]["severity"],
            "rule": src["rule"]["name"], "group": f["group_key"], "count": f["count"],
            "window_start": f["window"]["start"]}


def _list(args: argparse.Namespace) -> int:
    from ..findings.store import list_findings

    if not 1 <= args.limit <= LIMIT_CAP:
        return fail(f"--limit must be between 1 and {LIMIT_CAP} (got {args.limit}); "
                    "filter with --status/--rule, or query the findings index for an export",
                    EXIT_USAGE)
    docs = _with_store(args, lambda s: list_findings(s, status=args.status, rule_id=args.rule,
                                                     limit=args.limit, severity=args.severity))
    emit([_row(d) for d in docs], args.json, lambda rows: "\n".join(
        f"{r['id'][:12]}  {r['status']:<12} {r['severity']:<8} {r['window_start']}  {r['rule']} "
        f"[{r['group']}] x{r['count']}" for r in rows) or "no findings")
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    from ..findings.store import effective_status, get_finding

    doc = _with_store(args, lambda s: get_finding(s, args.id))
    if doc is None:
        return fail(f"no finding {args.id}")
    doc["finding"]["effective_status"] = effective_status(doc)

    def text(d: dict[str, Any]) -> str:
        f = d["finding"]
        lines = [f"{d['rule']['name']} ({d['rule']['severity']}, risk {d['rule']['risk_score']})",
                 f"id:       {f['id']}", f"status:   {f['effective_status']}",
                 f"group:    {f['group_key']}", f"count:    {f['count']}",
                 f"window:   {f['window']['start']} .. {f['window']['end']}",
                 f"seen:     {f.get('first_seen')} .. {f.get('last_seen')}",
                 f"samples:  {', '.join(f.get('sample_ids') or []) or '-'}",
                 f"MITRE:    {', '.join(d['threat']['technique']['id'])}",
                 f"PCI DSS:  {', '.join(d['pci']['requirements'])}"]
        if f.get("exception"):
            lines.append(f"exception: {f['exception']} (expires {f.get('exception_expires')})")
        lines.append("history:")
        lines.extend(f"  {h['at']} {h['by']}: {h['action']} - {h.get('why', '')}"
                     for h in f.get("history") or [])
        return "\n".join(lines)

    emit(doc, args.json, text)
    return EXIT_OK


def _move(args: argparse.Namespace) -> int:
    from ..findings.store import transition

    who = args.by or getpass.getuser()
    doc = _with_store(args, lambda s: transition(s, args.id, args.to, who, args.why))
    emit(_row(doc), args.json, lambda r: f"{r['id']}: {r['status']}")
    return EXIT_OK if doc else EXIT_FAIL
