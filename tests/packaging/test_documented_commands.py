"""Every ``monitor …`` command quoted in the README, the docs, the contributor guide and the
shipped alert runbooks exists: its subcommand path resolves and each ``--flag`` it quotes is an
option of that subcommand (a runbook once sent the on-call engineer to a flag that did not
exist). ``--help`` of each distinct subcommand is also run for real."""
from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md")),
           *sorted((ROOT / "deploy").rglob("*.yml")), *sorted((ROOT / "deploy").rglob("*.yaml"))]
# a command inside backticks or after "$ " in a code block
QUOTED = re.compile(r"`(monitor [^`]+)`|^\s*(?:\$ )?(monitor [a-z][^\n#|]*)", re.MULTILINE)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse has no public walk of its tree
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


def _quoted() -> list[tuple[str, str]]:
    found = []
    for path in SOURCES:
        if not path.exists():
            continue
        for match in QUOTED.finditer(path.read_text(encoding="utf-8")):
            text = (match.group(1) or match.group(2)).strip()
            found.append((f"{path.relative_to(ROOT)}", text))
    return found


def _check(text: str) -> tuple[list[str], list[str]]:
    """(the subcommand path, problems) of one quoted command."""
    try:
        tokens = shlex.split(text.replace("\\|", "|").replace("…", ""))
    except ValueError:
        tokens = text.split()
    parser, path, problems = build_parser(), [], []
    global_options = _options(parser)
    rest = iter(tokens[1:])
    for token in rest:
        if token in ("-c", "--config"):
            next(rest, None)  # its value
            continue
        if token.startswith(("-c=", "--config=")) or token in ("...", "-v", "--verbose"):
            continue
        children = _subparsers(parser)
        if not children or token.startswith("-"):
            break
        # "validate|lint|list" style alternatives in a table: check each
        alternatives = token.split("|")
        if not all(a in children for a in alternatives):
            if path or not token.isupper():
                problems.append(f"unknown command {' '.join(path + [token])!r}")
            return path, problems
        path.append(alternatives[0])
        parser = children[alternatives[0]]
    known = _options(parser) | global_options
    for token in tokens:
        if token.startswith("--"):
            flag = token.split("=", 1)[0]
            if flag not in known:
                problems.append(f"{' '.join(path)}: no option {flag}")
    return path, problems


def test_quoted_commands_exist() -> None:
    quoted = _quoted()
    assert len(quoted) > 20  # the extraction itself works
    problems = [f"{where}: `{text}`: {problem}"
                for where, text in quoted for problem in _check(text)[1]]
    assert problems == []


@pytest.mark.slow
def test_help_of_every_quoted_subcommand_runs() -> None:
    paths = sorted({tuple(_check(text)[0]) for _, text in _quoted()} - {()})
    for path in paths:
        result = subprocess.run([sys.executable, "-m", "monitor.cli.main", *path, "--help"],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0 and "usage: monitor" in result.stdout, (path, result.stderr)
