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
    problems = _files(settings)
    if problems:
        message = "invalid configuration:\n" + "\n".join(problems)
        emit({"ok": False, "issues": [{"problem": p} for p in problems]}, args.json,
             lambda _: message)
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


def _files(settings: object) -> list[str]:
    """The files the settings name, read the way the daemon reads them: the exceptions file
    (finding exceptions and control waivers, one schema) and the inventory."""
    from ..errors import RuleError, RuleValidationError
    from ..findings.exceptions import load_exceptions
    from ..inventory import load_inventory

    rules = getattr(settings, "rules", None)
    problems: list[str] = []
    if rules is not None and rules.exceptions_file is not None:
        try:
            load_exceptions(rules.exceptions_file)
        except RuleValidationError as exc:
            problems += [str(issue) for issue in exc.issues]
    if rules is not None and rules.inventory_file is not None:
        try:
            load_inventory(rules.inventory_file)
        except RuleError as exc:
            problems.append(str(exc))
    return problems
