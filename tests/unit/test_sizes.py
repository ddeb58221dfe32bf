"""The size rules of CONTRIBUTING.md, read from the code so they stay true: no module under
``monitor/`` over 600 lines, no function over 80 lines unless CONTRIBUTING.md's table of long
functions names it (with its reason), and no entry in that table that is no longer long."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_MODULE = 600
MAX_FUNCTION = 80


def _named_exceptions() -> set[tuple[str, str]]:
    """(path, function) pairs from the table rows like | `monitor/x.py` `Class.func` | …"""
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `(monitor/[^`]+\.py)` `([\w.]+)` \|", text, re.MULTILINE))


def _functions(path: Path) -> list[tuple[str, int]]:
    """(qualified name, length in lines) of every function in a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                found.append((name, (child.end_lineno or child.lineno) - child.lineno + 1))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
    visit(tree, "")
    return found


def _sources() -> list[Path]:
    return sorted((ROOT / "monitor").rglob("*.py"))


def test_no_module_over_600_lines():
    long = {str(p.relative_to(ROOT)): n for p in _sources()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE}
    assert long == {}


def test_no_function_over_80_lines_unless_named_with_a_reason():
    allowed = _named_exceptions()
    long = {(str(p.relative_to(ROOT)), name): n for p in _sources()
            for name, n in _functions(p) if n > MAX_FUNCTION}
    assert {k: v for k, v in long.items() if k not in allowed} == {}
    assert allowed - set(long) == set(), "CONTRIBUTING.md names a function that is short now"
