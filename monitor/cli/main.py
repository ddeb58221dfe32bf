"""``monitor`` entry point. Exit codes: 0 ok, 1 failure, 2 usage or configuration error."""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from .. import __version__
from .common import EXIT_USAGE, CommandGroups

__all__ = ["main", "build_parser"]

# Each module has ``register(groups: CommandGroups) -> None``. Order sets the help listing.
COMMAND_MODULES = (
    "monitor.cli.config_cmd",
    "monitor.cli.es_cmd",
    "monitor.cli.run_cmd",
    "monitor.cli.checkpoint_cmd",
    "monitor.cli.git_cmd",
    "monitor.cli.sources_cmd",
    "monitor.cli.report_cmd",
    "monitor.cli.compliance_cmd",
    "monitor.cli.rules_cmd",
    "monitor.cli.findings_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monitor",
        description="PCI DSS compliance monitor: Check Point and Git evidence in Elasticsearch.",
    )
    parser.add_argument("--version", action="version", version=f"monitor {__version__}")
    parser.add_argument("-c", "--config", default=os.environ.get("MONITOR_CONFIG", "config.yaml"),
                        help="settings file (default: $MONITOR_CONFIG or ./config.yaml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    groups = CommandGroups(parser.add_subparsers(dest="command", metavar="COMMAND"))
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    handler = getattr(args, "handler", None)
    if handler is None:
        target = getattr(args, "group_parser", parser)
        target.print_help(sys.stderr)
        return EXIT_USAGE
    return int(handler(args))


if __name__ == "__main__":
    sys.exit(main())
