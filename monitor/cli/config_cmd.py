"""``monitor config check``: validate a settings file and say exactly what is wrong."""
from __future__ import annotations

import argparse

from .common import EXIT_OK, EXIT_USAGE, CommandGroups, emit

__all__ = ["register"]


def register(groups: CommandGroups) -> None:
    sub = groups.group("config", "inspect the settings file")
    check = sub.add_parser("check", help="validate the settings file; exit 2 if it is invalid")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    from ..errors import ConfigError, ConfigIssue
    from ..settings import load_settings, unresolved_secrets

    try:
        settings = load_settings(args.config)
        # other commands load with an unset secret (it fails only where used); check names them all
        missing = unresolved_secrets(settings)
        if missing:
            raise ConfigError([ConfigIssue(args.config, field, secret.problem)
                               for field, secret in missing])
    except ConfigError as exc:
        issues = [{"file": i.file, "field": i.field, "expected": i.expected, "got": i.got}
                  for i in exc.issues]
        message = "invalid configuration:\n" + str(exc)
        emit({"ok": False, "issues": issues}, args.json, lambda _: message)
        return EXIT_USAGE
    summary = {
        "ok": True, "file": args.config,
        "elasticsearch": settings.elasticsearch.hosts,
        "sources": {name: len(getattr(settings.sources, name)) for name in
                    ("checkpoint_api", "git", "github", "gitlab", "argocd")}
        | {"syslog": settings.sources.syslog.enabled},
    }
    emit(summary, args.json, lambda s: f"{s['file']}: ok")
    return EXIT_OK
