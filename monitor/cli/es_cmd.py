"""``monitor es check|setup``: connectivity, capabilities and index templates."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from .common import EXIT_FAIL, EXIT_OK, CommandGroups, emit, guarded, load_or_exit, run_async

if TYPE_CHECKING:
    from ..store.setup import TemplateStatus

__all__ = ["register"]


def register(groups: CommandGroups) -> None:
    sub = groups.group("es", "Elasticsearch connection and index templates")
    check = sub.add_parser("check", help="connect, show version, capabilities and template status")
    check.add_argument("--json", action="store_true")
    check.set_defaults(handler=guarded(_check))
    setup = sub.add_parser("setup", help="install or upgrade index templates (idempotent)")
    setup.add_argument("--json", action="store_true")
    setup.set_defaults(handler=guarded(_setup))


def _check(args: argparse.Namespace) -> int:
    from ..store import open_store
    from ..store.setup import template_status

    settings = load_or_exit(args)

    async def go() -> dict[str, Any]:
        store = open_store(settings.elasticsearch)
        try:
            health = await store.health()
            caps = await store.detect()
            templates = await template_status(store)
        finally:
            await store.close()
        return {"status": health.get("status"), "cluster": health.get("cluster_name"),
                "capabilities": caps.as_dict(),
                "templates": {t.name: t.action for t in templates}}

    report = run_async(go)
    ok = all(v == "unchanged" for v in report["templates"].values())

    def text(r: dict[str, Any]) -> str:
        lines = [f"cluster {r['cluster']}: {r['status']}",
                 "capabilities: " + ", ".join(f"{k}={v}" for k, v in r["capabilities"].items()),
                 *(f"template {k}: {v}" for k, v in r["templates"].items())]
        if not ok:
            lines.append("templates missing or outdated: run `monitor es setup`")
        return "\n".join(lines)

    emit(report, args.json, text)
    return EXIT_OK if ok else EXIT_FAIL


def _setup(args: argparse.Namespace) -> int:
    from ..store import open_store
    from ..store.setup import install_templates

    settings = load_or_exit(args)

    async def go() -> list[TemplateStatus]:
        store = open_store(settings.elasticsearch)
        try:
            await store.health()
            return await install_templates(store)
        finally:
            await store.close()

    statuses = run_async(go)
    emit({s.name: s.action for s in statuses}, args.json,
         lambda d: "\n".join(f"{k}: {v}" for k, v in d.items()))
    return EXIT_OK
