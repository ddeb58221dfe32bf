"""``monitor rules validate|lint|list|test|run|import-sigma``: the threat rule pack.

* ``validate [PATH...]``  schema + uniqueness + pack lint (ATT&CK, PCI ids, triage, fixtures);
  every problem printed as ``file [rule id]: field: expected (got ...)``; exit 1 if any.
* ``list [PATH...] [--state]`` id, enabled, type, severity, name; with ``--state`` also what
  the engine last recorded for each rule (searched to, learning until): read from Elasticsearch.
* ``test [PATH...] [--rule ID]`` each rule's fixtures against the configured Elasticsearch,
  under a throw-away index prefix that is deleted afterwards.
* ``run --from T --to T [--rule ID] [--dry-run]`` evaluate a range now (backfill, dry run);
  without ``--dry-run`` findings are written (window state is not touched).
* ``import-sigma PATH... --out DIR`` convert Sigma rules (needs the ``sigma`` extra).
"""
from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    CommandGroups,
    add_fail_on,
    emit,
    fail,
    guarded,
    load_or_exit,
    run_async,
    verdict_exit,
)

if TYPE_CHECKING:
    from ..detect.loader import RuleSet

__all__ = ["register"]


def register(groups: CommandGroups) -> None:
    sub = groups.group("rules", "threat rules: validate, list, test fixtures, run, import Sigma")
    p = sub.add_parser("validate", help="schema, unique ids/names and pack lint")
    p.add_argument("paths", nargs="*", help="rule files or folders (default: configured packs)")
    p.add_argument("--requirements", type=Path, help="PCI requirements file to check ids against")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=guarded(_validate))
    p = sub.add_parser("list", help="list rules")
    p.add_argument("paths", nargs="*")
    p.add_argument("--state", action="store_true",
                   help="add each rule's evaluation state from Elasticsearch (searched to, "
                        "learning until)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=guarded(_list))
    p = sub.add_parser("test", help="run every rule's fixtures against Elasticsearch")
    p.add_argument("paths", nargs="*")
    p.add_argument("--rule", action="append", default=[], help="only this rule id (repeatable)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=guarded(_test))
    p = sub.add_parser("run", help="evaluate rules over a time range (backfill or dry run)")
    p.add_argument("paths", nargs="*")
    p.add_argument("--rule", action="append", default=[], help="only this rule id (repeatable)")
    p.add_argument("--from", dest="start", required=True, help="ISO time, inclusive")
    p.add_argument("--to", dest="end", required=True, help="ISO time, exclusive")
    p.add_argument("--dry-run", action="store_true", help="print findings, write nothing")
    add_fail_on(p, ("finding",))
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=guarded(_run))
    p = sub.add_parser("import-sigma", help="convert Sigma rules into rule files")
    p.add_argument("paths", nargs="+", help="Sigma .yml files or folders")
    p.add_argument("--out", type=Path, required=True, help="folder for the converted rules")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=guarded(_import_sigma))


def _paths(args: argparse.Namespace) -> list[Path] | None:
    if args.paths:
        return [Path(p) for p in args.paths]
    settings = load_or_exit(args)
    return list(settings.rules.dirs) or None


def _load(args: argparse.Namespace) -> RuleSet:
    from ..detect.loader import load_rules

    return load_rules(_paths(args))


def _validate(args: argparse.Namespace) -> int:
    from ..detect.lint import lint
    from ..detect.schema import RuleValidationError

    try:
        ruleset = _load(args)
    except RuleValidationError as exc:
        emit([str(i) for i in exc.issues], args.json, lambda d: "\n".join(d))
        return EXIT_FAIL
    issues = lint(ruleset, args.requirements)
    if issues:
        emit([str(i) for i in issues], args.json, lambda d: "\n".join(d))
        return EXIT_FAIL
    emit({"rules": len(ruleset), "issues": 0}, args.json,
         lambda d: f"{d['rules']} rules valid")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    ruleset = _load(args)
    rows: list[dict[str, Any]] = [{"id": r.id, "type": r.type, "severity": r.severity.value, "name": r.name,
             "status": r.status, "enabled": r.enabled, "pci": list(r.pci_dss_v4_0_1)}
            for r in ruleset]
    if args.state:
        states = run_async(lambda: _window_states([r["id"] for r in rows], args))
        for row in rows:
            row["state"] = states.get(row["id"])

    def text(d: list[dict[str, Any]]) -> str:
        lines = [f"{r['id']}  {'enabled ' if r['enabled'] else 'disabled'} {r['type']:<11} "
                 f"{r['severity']:<8} {r['name']}{_state_text(r)}" for r in d]
        on = sum(1 for r in d if r["enabled"])
        summary = f"{len(d)} rules, {on} enabled, {len(d) - on} disabled"
        if args.state:
            learning = sum(1 for r in d if (r.get("state") or {}).get("learning"))
            summary += f", {learning} learning"
        lines.append(summary)
        return "\n".join(lines)

    emit(rows, args.json, text)
    return EXIT_OK


async def _window_states(rule_ids: list[str], args: argparse.Namespace
                         ) -> dict[str, dict[str, Any] | None]:
    """What the engine committed last for each rule (``None``: never evaluated)."""
    from ..detect.engine import state_key
    from ..store import StateStore, open_store

    settings = load_or_exit(args)
    store = open_store(settings.elasticsearch)
    try:
        state = StateStore(store)
        out: dict[str, dict[str, Any] | None] = {}
        for rule_id in rule_ids:
            doc = await state.get(state_key(rule_id))
            value = doc.value if doc is not None else None
            out[rule_id] = None if value is None else {
                k: value.get(k) for k in ("searched_to", "last_success", "learning",
                                          "learning_until")}
        return out
    finally:
        await store.close()


def _state_text(row: dict[str, Any]) -> str:
    if "state" not in row:
        return ""
    state = row["state"]
    if state is None:
        return "  [never evaluated]"
    if state.get("learning"):
        until = state.get("learning_until") or "its first data"
        return f"  [learning: no findings before {until}]"
    return f"  [searched to {state.get('searched_to')}]"


def _test(args: argparse.Namespace) -> int:
    from ..detect.fixtures import run_fixtures
    from ..store import open_store
    from ..store.search import drop_prefix
    from ..store.setup import install_templates

    settings = load_or_exit(args)
    ruleset = _load(args)
    unknown = [i for i in args.rule if i not in ruleset.by_id]
    if unknown:
        return fail(f"unknown rule id(s): {', '.join(unknown)}", EXIT_USAGE)
    entries = [e for e in ruleset.rules if not args.rule or e.rule.id in args.rule]
    prefix = f"{settings.elasticsearch.index_prefix}-ruletest-{uuid.uuid4().hex[:8]}"

    async def go() -> list[Any]:
        store = open_store(settings.elasticsearch, prefix=prefix)
        try:
            await install_templates(store)
            await store.detect()
            return await run_fixtures(entries, store)
        finally:
            await drop_prefix(store)
            await store.close()

    results = run_async(go)
    rows = [{"rule": r.rule_id, "name": r.rule_name, "case": r.case, "ok": r.ok,
             "expected": r.expected, "got": r.got, "error": r.error} for r in results]

    def text(d: list[dict[str, Any]]) -> str:
        lines = []
        for r in d:
            mark = "PASS" if r["ok"] else "FAIL"
            line = f"{mark} {r['name']} :: {r['case']}"
            if not r["ok"]:
                line += f"\n     expected {r['expected']}\n     got      {r['got']}"
                if r["error"]:
                    line += f"\n     error    {r['error']}"
            lines.append(line)
        failed = sum(1 for r in d if not r["ok"])
        lines.append(f"{len(d) - failed} passed, {failed} failed, {len(entries)} rules")
        return "\n".join(lines)

    emit(rows, args.json, text)
    return EXIT_OK if results and all(r.ok for r in results) else EXIT_FAIL


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SystemExit(fail(f"not an ISO time: {text!r}", EXIT_USAGE)) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _run(args: argparse.Namespace) -> int:
    settings = load_or_exit(args)
    ruleset = _load(args)
    unknown = [i for i in args.rule if i not in ruleset.by_id]
    if unknown:
        return fail(f"unknown rule id(s): {', '.join(unknown)}", EXIT_USAGE)
    # like the daemon, skip disabled rules unless asked for by id
    if args.rule:
        rules = [r for r in ruleset if r.id in args.rule]
    else:
        rules = [r for r in ruleset if r.enabled]
    start, end = _parse_time(args.start), _parse_time(args.end)
    if end <= start:
        return fail("--to must be after --from", EXIT_USAGE)
    from ..detect.engine import evaluate_range
    from ..findings.exceptions import load_exceptions
    from ..store import open_store

    exceptions = load_exceptions(settings.rules.exceptions_file)
    from ..inventory import InventorySource

    async def go() -> Any:
        store = open_store(settings.elasticsearch)
        try:
            await store.detect()
            from datetime import timedelta
            inventory = await InventorySource(settings.rules.inventory_file).current(store)
            return await evaluate_range(
                rules, store, start, end, write=not args.dry_run, exceptions=exceptions,
                max_segment=timedelta(seconds=settings.rules.max_backfill_segment_seconds),
                inventory=inventory)
        finally:
            await store.close()

    stats = run_async(go)
    report = {"rules": stats.rules_evaluated, "segments": stats.segments,
              "findings": stats.findings, "created": stats.created,
              "duplicates": stats.duplicates, "excepted": stats.excepted,
              "errors": stats.errors, "round_trips": stats.round_trips,
              "unbound": {k: list(v) for k, v in stats.unbound.items()},
              "learning": {k: v.isoformat() if v else None for k, v in stats.learning.items()},
              "took_ms": stats.took_ms, "seconds": round(stats.duration_seconds, 3),
              "dry_run": args.dry_run,
              "results": [_finding_row(d) for d in stats.results]}

    def text(r: dict[str, Any]) -> str:
        shown = r["results"] if r["dry_run"] else []  # a backfill lists them with --json
        lines = [f"{f['severity']:<8} {f['rule']} [{f['group']}] count={f['count']} "
                 f"window={f['window']['start']}" for f in shown]
        lines.append(f"{r['rules']} rules, {r['segments']} segments, {r['findings']} findings "
                     f"({r['created']} new, {r['duplicates']} already known, {r['excepted']} "
                     f"excepted), {r['round_trips']} round trips, {r['seconds']} s"
                     + (" [dry run]" if r["dry_run"] else ""))
        lines.extend(f"error {k}: {v}" for k, v in r["errors"].items())
        lines.extend(f"not evaluated {k}: the inventory lacks {', '.join(v)}"
                     for k, v in r["unbound"].items())
        lines.extend(f"learning {k}: its history is not indexed yet, no findings before "
                     f"{v or '(no data yet)'}" for k, v in r["learning"].items())
        return "\n".join(lines)

    emit(report, args.json, text)
    if stats.errors:
        return EXIT_FAIL  # the command did not work: a rule could not be evaluated
    return verdict_exit(args, {"finding"} if stats.findings else set())


def _finding_row(doc: dict[str, Any]) -> dict[str, Any]:
    """What a reader needs to judge a finding without opening it: when, how many, and the
    values the verdict rests on (``values``: e.g. a spike's current and reference counts)."""
    finding = doc["finding"]
    return {"id": finding["id"], "rule_id": doc["rule"]["id"], "rule": doc["rule"]["name"],
            "severity": doc["rule"]["severity"], "group": finding["group_key"],
            "count": finding["count"], "window": finding["window"],
            "first_seen": finding.get("first_seen"), "last_seen": finding.get("last_seen"),
            "status": finding.get("status"), "values": finding.get("extra") or {}}


def _import_sigma(args: argparse.Namespace) -> int:
    from ..detect.sigma import SigmaUnavailable, import_sigma_paths

    try:
        results = import_sigma_paths([Path(p) for p in args.paths], args.out)
    except SigmaUnavailable as exc:
        return fail(str(exc), EXIT_USAGE)
    rows = [{"source": r.source, "ok": r.ok, "rule_file": str(r.rule_file) if r.rule_file else None,
             "reason": r.reason} for r in results]
    emit(rows, args.json, lambda d: "\n".join(
        (f"imported {r['source']} -> {r['rule_file']}" if r["ok"]
         else f"REFUSED  {r['source']}: {r['reason']}") for r in d))
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAIL
