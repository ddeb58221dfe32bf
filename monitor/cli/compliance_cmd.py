"""``monitor compliance evaluate|list|status|test`` and ``monitor inventory check|load``.

* ``compliance evaluate [--from T --to T | --period daily|weekly|monthly] [--json] [--dry-run]``
  evaluates every control for the period and writes the results. Exit 0 whatever the verdict
  (it is in the output); ``--fail-on fail`` (or ``insufficient_data``) makes a bad verdict exit 1
  for CI use.
* ``compliance list [--json]``: the controls (automated/manual) and requirement coverage.
* ``compliance status --from T --to T [--json]``: per-requirement status from the stored results.
* ``compliance test [--control ID] [--json]``: every control's fixtures against Elasticsearch,
  under a throw-away index prefix that is deleted afterwards.
* ``inventory check [FILE] [--csv F]...``: validate an inventory (exit 2 when invalid).
* ``inventory load [FILE] [--csv F]...``: validate and store it in the inventory index.
"""
from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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

__all__ = ["register"]


def register(groups: CommandGroups) -> None:
    sub = groups.group("compliance", "PCI DSS v4.0.1 controls: evaluate, list, status, test")
    ev = sub.add_parser("evaluate", help="evaluate every control for a period and store results")
    ev.add_argument("--from", dest="start", help="period start (ISO 8601, UTC if no offset)")
    ev.add_argument("--to", dest="end", help="period end (exclusive)")
    ev.add_argument("--period", choices=("daily", "weekly", "monthly"),
                    help="the last complete period (default: daily)")
    ev.add_argument("--inventory", help="inventory file to use instead of the stored one")
    ev.add_argument("--dry-run", action="store_true", help="do not write results")
    add_fail_on(ev)
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(handler=guarded(_usage(_evaluate)))
    ls = sub.add_parser("list", help="list controls and requirement coverage")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=guarded(_usage(_list)))
    st = sub.add_parser("status", help="per-requirement status over a period, from stored results")
    st.add_argument("--from", dest="start", required=True)
    st.add_argument("--to", dest="end", required=True)
    st.add_argument("--json", action="store_true")
    st.set_defaults(handler=guarded(_usage(_status)))
    te = sub.add_parser("test", help="run the controls' fixtures against Elasticsearch")
    te.add_argument("--control", action="append", default=[], help="only this control (repeat)")
    te.add_argument("--json", action="store_true")
    te.set_defaults(handler=guarded(_usage(_test)))

    inv = groups.group("inventory", "CDE zones, hosts, services, identities, change windows")
    check = inv.add_parser("check", help="validate an inventory file (YAML, plus CSV rows)")
    check.add_argument("file", nargs="?", help="inventory YAML or CSV (default: rules.inventory_file)")
    check.add_argument("--csv", action="append", default=[], help="CSV rows merged over FILE")
    check.add_argument("--json", action="store_true")
    check.set_defaults(handler=_usage(_inventory_check))
    load = inv.add_parser("load", help="validate and store the inventory in Elasticsearch")
    load.add_argument("file", nargs="?")
    load.add_argument("--csv", action="append", default=[])
    load.add_argument("--json", action="store_true")
    load.set_defaults(handler=guarded(_usage(_inventory_load)))


class _Usage(Exception):
    """A command-line mistake: printed, exit 2."""


def _usage(handler: Any) -> Any:
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return int(handler(args))
        except _Usage as exc:
            return fail(str(exc), EXIT_USAGE)
    return wrapper


def _time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _Usage(f"not an ISO 8601 time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _period(args: argparse.Namespace, now: datetime) -> tuple[datetime, datetime]:
    if args.start or args.end:
        if not (args.start and args.end) or args.period:
            raise _Usage("give --from and --to together, or --period")
        start, end = _time(args.start), _time(args.end)
        if end <= start:
            raise _Usage("--to must be after --from")
        return start, end
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    kind = args.period or "daily"
    if kind == "daily":
        return today - timedelta(days=1), today
    if kind == "weekly":
        end = today - timedelta(days=today.weekday())
        return end - timedelta(days=7), end
    end = datetime(now.year, now.month, 1, tzinfo=UTC)
    previous = (end - timedelta(days=1)).replace(day=1)
    return previous, end


def _load_pack() -> tuple[Any, Any, Any]:
    from ..compliance.run import load_pack

    return load_pack()


def _inventory_path(args: argparse.Namespace) -> Path:
    if args.file:
        return Path(args.file)
    settings = load_or_exit(args)
    if settings.rules.inventory_file is None:
        raise _Usage("no inventory file: give FILE or set rules.inventory_file")
    return settings.rules.inventory_file


def _evaluate(args: argparse.Namespace) -> int:
    from ..compliance import evaluate_period, summarize
    from ..inventory import load_inventory
    from ..store import open_store

    settings = load_or_exit(args)
    now = datetime.now(UTC)
    start, end = _period(args, now)
    catalogue, controls, sources = _load_pack()
    inventory = load_inventory(args.inventory) if args.inventory else None

    async def go() -> tuple[list[Any], Any]:
        store = open_store(settings.elasticsearch)
        try:
            from ..findings.exceptions import load_exceptions
            results = await evaluate_period(controls, catalogue, store, start, end, now,
                                            inventory=inventory, sources=sources,
                                            write=not args.dry_run,
                                            waivers=load_exceptions(
                                                settings.rules.exceptions_file))
        finally:
            await store.close()
        return results, summarize(catalogue, results)

    results, summary = run_async(go)
    data = {"period": {"start": start.isoformat(), "end": end.isoformat()},
            "summary": _summary_dict(summary),
            "controls": [{"id": r.control_id, "name": r.control_name, "status": r.status.value,
                          "requirements": list(r.requirements), "reason": r.reason,
                          "counts": r.counts, "completeness": r.completeness}
                         for r in results]}

    def text(d: dict[str, Any]) -> str:
        lines = [f"{c['id']}  {c['status']:<17} {c['name']}\n      {c['reason'][:300]}"
                 for c in d["controls"]]
        s = d["summary"]
        score = "n/a" if s["score_percent"] is None else f"{s['score_percent']}%"
        lines.append(f"controls: {s['by_status']}; requirement score {score}")
        return "\n".join(lines)

    emit(data, args.json, text)
    return verdict_exit(args, {r.status.value for r in results})


def _summary_dict(summary: Any) -> dict[str, Any]:
    """The summary with its score in percent (``score_percent``), the unit every command prints;
    only the Prometheus gauge keeps a 0..1 ratio, as its ``_ratio`` name says."""
    out = dict(summary.as_dict())
    ratio = out.pop("score", None)
    out["score_percent"] = None if ratio is None else round(100 * ratio, 1)
    return out


def _list(args: argparse.Namespace) -> int:
    catalogue, controls, _ = _load_pack()
    by_id = {c.id: c for c in controls}
    data = {
        "controls": [{"id": c.id, "name": c.name, "mode": c.mode,
                      "requirements": c.requirements, "data_sources": c.data_sources,
                      "checks": [ch.type for ch in c.checks]} for c in controls],
        "requirements": [{"id": r.id, "title": r.title, "controls": list(r.controls),
                          "coverage": "automated" if any(by_id[c].mode == "automated"
                                                         for c in r.controls) else "manual",
                          "manual": r.manual} for r in catalogue.requirements],
    }
    automated = sum(1 for c in controls if c.mode == "automated")
    covered = sum(1 for r in data["requirements"] if r["coverage"] == "automated")

    def text(d: dict[str, Any]) -> str:
        lines = [f"{c['id']}  {c['mode']:<9} {c['name']}  [{', '.join(c['requirements'])}]"
                 for c in d["controls"]]
        lines.append(f"{len(controls)} controls ({automated} automated, "
                     f"{len(controls) - automated} manual); {len(catalogue.requirements)} "
                     f"requirements, {covered} with an automated control, "
                     f"{len(catalogue.requirements) - covered} manual only")
        return "\n".join(lines)

    emit(data, args.json, text)
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    from ..compliance import load_catalogue
    from ..compliance.run import requirement_status
    from ..store import open_store

    settings = load_or_exit(args)
    start, end = _time(args.start), _time(args.end)
    catalogue = load_catalogue()

    async def go() -> list[Any]:
        store = open_store(settings.elasticsearch)
        try:
            return await requirement_status(store, catalogue, start, end)
        finally:
            await store.close()

    rows = run_async(go)
    emit([r.as_dict() for r in rows], args.json, lambda d: "\n".join(
        f"{r['id']:<9} {r['status']:<17} {r['coverage']:<9} {r['title']}" for r in d))
    return EXIT_OK


def _test(args: argparse.Namespace) -> int:
    from ..compliance.fixtures import run_control_fixtures
    from ..inventory import load_inventory
    from ..resources import rules_dir
    from ..store import open_store
    from ..store.search import drop_prefix
    from ..store.setup import install_templates

    settings = load_or_exit(args)
    catalogue, controls, sources = _load_pack()
    del catalogue
    inventory = load_inventory(rules_dir() / "inventory.example.yaml")
    wanted = set(args.control)
    unknown = wanted - {c.id for c in controls}
    if unknown:
        return fail(f"unknown control(s): {', '.join(sorted(unknown))}", EXIT_USAGE)

    async def go() -> list[Any]:
        prefix = f"{settings.elasticsearch.index_prefix}-ctest-{uuid.uuid4().hex[:8]}"
        store = open_store(settings.elasticsearch, prefix=prefix)
        try:
            await install_templates(store)
            outcomes = []
            for control in controls:
                if wanted and control.id not in wanted:
                    continue
                outcomes.extend(await run_control_fixtures(store, control, sources, inventory))
            return outcomes
        finally:
            await drop_prefix(store)
            await store.close()

    outcomes = run_async(go)
    data = [{"control": o.control, "fixture": o.fixture, "expected": o.expected, "got": o.got,
             "ok": o.ok, "reason": o.reason} for o in outcomes]
    emit(data, args.json, lambda d: "\n".join(
        f"{'ok  ' if o['ok'] else 'FAIL'} {o['control']} {o['fixture']}: expected {o['expected']}, "
        f"got {o['got']}" + ("" if o["ok"] else f" ({o['reason'][:200]})") for o in d)
        + f"\n{sum(o['ok'] for o in d)}/{len(d)} fixtures pass")
    return EXIT_OK if all(o.ok for o in outcomes) else EXIT_FAIL


def _inventory_check(args: argparse.Namespace) -> int:
    from ..errors import RuleError
    from ..inventory import load_inventory

    try:
        path = _inventory_path(args)
        inventory = load_inventory(path, args.csv)
    except RuleError as exc:
        emit({"ok": False, "problems": str(exc).splitlines()}, args.json,
             lambda d: "invalid inventory:\n" + "\n".join(d["problems"]))
        return EXIT_USAGE
    params = inventory.params()
    summary = {"ok": True, "file": str(path), "zones": len(inventory.zones),
               "cde_networks": params["cde_networks"], "chd_hosts": len(inventory.chd_hosts),
               "public_services": len(inventory.public_services),
               "gateways": len(inventory.gateways),
               "deploy_identities": len(inventory.deploy_identities),
               "administrators": len(inventory.administrators),
               "change_windows": len(inventory.change_windows),
               "warnings": _warnings(inventory)}
    emit(summary, args.json, lambda s: f"{s['file']}: ok ({s['zones']} zones, "
         f"{s['chd_hosts']} cardholder-data hosts, {s['gateways']} gateways)"
         + "".join(f"\nwarning: {w}" for w in s["warnings"]))
    return EXIT_OK


def _warnings(inventory: Any) -> list[str]:
    """Empty sections that make controls report insufficient_data."""
    params = inventory.params()
    out = []
    for key, what in (("cde_networks", "no CDE zone (cde: true)"),
                      ("chd_hosts", "no cardholder-data hosts"),
                      ("gateways", "no gateways"), ("deploy_identities", "no deploy identities"),
                      ("administrators", "no administrators"),
                      ("wireless_networks", "no wireless zone (1.3.3 cannot be checked)"),
                      ("signature_required_repos", "no signature-required repositories")):
        if not params.get(key):
            out.append(f"{what}: controls that need it report insufficient_data")
    if inventory.go_live is None:
        out.append("no go_live date: retention (10.5.1) needs 365 days of events to pass")
    return out


def _inventory_load(args: argparse.Namespace) -> int:
    from ..inventory import load_inventory, store_inventory
    from ..store import open_store

    settings = load_or_exit(args)
    path = _inventory_path(args)
    inventory = load_inventory(path, args.csv)

    async def go() -> int:
        store = open_store(settings.elasticsearch)
        try:
            return await store_inventory(store, inventory)
        finally:
            await store.close()

    count = run_async(go)
    emit({"ok": True, "file": str(path), "documents": count}, args.json,
         lambda d: f"{d['file']}: stored {d['documents']} inventory documents")
    return EXIT_OK
