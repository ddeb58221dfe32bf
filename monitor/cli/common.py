"""Helpers every command shares: settings loading, async running, output."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from ..errors import ConfigError, MonitorError

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["EXIT_OK", "EXIT_FAIL", "EXIT_USAGE", "CommandGroups", "load_or_exit", "run_async", "guarded",
           "emit", "fail", "add_fail_on", "verdict_exit", "iso_date", "UsageError"]

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

T = TypeVar("T")


class CommandGroups:
    """Lets several modules add subcommands to one group (``ingest checkpoint``, ``ingest git``)."""

    def __init__(self, root: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        self._root = root
        self._groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]] = {}

    def command(self, name: str, help: str) -> argparse.ArgumentParser:
        return self._root.add_parser(name, help=help, description=help)

    def group(self, name: str, help: str) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        if name not in self._groups:
            parser = self._root.add_parser(name, help=help, description=help)
            parser.set_defaults(group_parser=parser)
            self._groups[name] = parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND")
        return self._groups[name]


def fail(message: str, code: int = EXIT_FAIL) -> int:
    """Print an error for a person; exception texts can carry URLs with userinfo or a secret
    typed under the wrong key, so they pass the one redaction function first."""
    from ..redact import redact

    print(f"monitor: {redact(message)}", file=sys.stderr)
    return code


def add_fail_on(parser: argparse.ArgumentParser, choices: tuple[str, ...] = (
        "fail", "insufficient_data")) -> None:
    """One rule for every evaluating command: the command worked → exit 0, and the verdict is in
    its output. ``--fail-on`` (repeatable) opts into exit 1 on a bad verdict, for CI gates."""
    parser.add_argument("--fail-on", action="append", default=[], choices=choices,
                        metavar="|".join(choices),
                        help="exit 1 when the verdict includes this (repeatable; for CI)")


def verdict_exit(args: argparse.Namespace, verdicts: set[str]) -> int:
    return EXIT_FAIL if verdicts & set(getattr(args, "fail_on", None) or ()) else EXIT_OK


class UsageError(Exception):
    """A command-line mistake found after parsing: ``guarded`` prints it and returns 2."""


def iso_date(text: str | None, flag: str) -> str | None:
    """``2026-01-31`` (or an ISO time: its date) from a command-line flag; exit 2 otherwise."""
    if not text:
        return None
    from datetime import date

    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        raise UsageError(f"{flag}: not an ISO date: {text!r}") from None


def load_or_exit(args: argparse.Namespace) -> Settings:
    """Load settings; on error print every issue and exit 2. A missing default file = defaults."""
    from ..settings import load_settings, settings_from_dict

    path = args.config
    try:
        if path == "config.yaml" and not _exists(path):
            return settings_from_dict({}, "<defaults>")
        return load_settings(path)
    except ConfigError as exc:
        fail(f"invalid configuration:\n{exc}")
        raise SystemExit(EXIT_USAGE) from None


def _exists(path: str) -> bool:
    import os

    return os.path.exists(path)


def run_async(factory: Callable[[], Awaitable[T]]) -> T:
    import asyncio

    return asyncio.run(factory())  # type: ignore[arg-type]  # asyncio.run wants a Coroutine, factories return Awaitable


def emit(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    if as_json:
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS,
                                      default=str).decode() + "\n")
    else:
        sys.stdout.write(text(data) + "\n")


def guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn our own errors into a one-line message and exit 1 instead of a traceback."""

    def wrapper(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except ConfigError as exc:
            return fail(f"invalid configuration:\n{exc}", EXIT_USAGE)
        except MonitorError as exc:
            return fail(str(exc))
        except UsageError as exc:
            return fail(str(exc), EXIT_USAGE)

    return wrapper
