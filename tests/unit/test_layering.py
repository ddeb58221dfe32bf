"""The layering rules, read from the imports (``ast``), so they stay true.

The packages of ``monitor/`` are stages in data-flow order. A module may import from its own
package or from a lower layer, never from a higher one or a sibling at the same layer
(normalize ↛ store, findings ↛ detect, store ↛ anything above it), and no modules import each
other in a circle. Every import counts: at the top of a file, inside a function (a lazy import
does not remove the dependency) and under ``TYPE_CHECKING``.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "monitor"

#: lowest first; a package may import only from the layers below its own
LAYERS: list[set[str]] = [
    {"errors"},
    {"model", "timefmt", "resources", "yamlio", "identifiers", "redact"},
    {"settings", "issues"},
    {"logsetup", "normalize", "simulate", "tls"},
    {"store"},
    {"sources", "inventory", "findings", "metrics"},
    {"detect", "compliance", "reports", "alerting", "ingest"},
    {"daemon"},
    {"cli"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The ``monitor`` modules one ``from … import …`` reaches (a submodule when the imported
    name is one, else the module itself)."""
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target != "monitor" and not target.startswith("monitor."):
        return []
    modules = _modules()
    found = [f"{target}.{alias.name}" for alias in node.names
             if f"{target}.{alias.name}" in modules]
    if len(found) < len(node.names):
        found.append(target)
    return found


@cache
def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                targets = _resolve(module, path.name == "__init__.py", node)
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names
                           if alias.name == "monitor" or alias.name.startswith("monitor.")]
            else:
                continue
            graph[module].update(t for t in targets if t != module)
    return graph


def test_only_the_store_talks_to_elasticsearch() -> None:
    """No module outside ``monitor/store`` imports the client or reaches into ``store.es``."""
    found = []
    for module, path in _modules().items():
        if _stage(module) == "store":
            continue
        text = path.read_text(encoding="utf-8")
        for marker in ("import elasticsearch", "from elasticsearch", "import elastic_transport",
                       "from elastic_transport", ".es."):
            if marker in text:
                found.append(f"{module}: {marker}")
    assert not found


def test_every_import_names_a_module_that_exists() -> None:
    """A relative import with one dot too few still parses: catch it here, not at run time."""
    modules = _modules()
    missing = sorted(f"{m} -> {t}" for m, targets in _graph().items() for t in targets
                     if t not in modules)
    assert not missing


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_package_has_a_layer() -> None:
    stages = {_stage(module) for module in _modules()} - {None}
    assert stages <= set(RANK), f"add to LAYERS: {sorted(stages - set(RANK))}"


def _upward(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, targets in sorted(graph.items()):
        own = _stage(module)
        for target in sorted(targets):
            other = _stage(target)
            if own is None or other is None or own == other:
                continue  # the package's face (monitor/__init__.py) and imports inside a stage
            if RANK[other] >= RANK[own]:
                wrong.append(f"{module} -> {target}")
    return wrong


def test_no_arrow_runs_up_or_sideways() -> None:
    wrong = _upward(_graph())
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


@pytest.mark.parametrize(("lower", "higher"), [
    ("normalize", "store"), ("findings", "detect"), ("store", "sources"), ("store", "detect"),
    ("normalize", "sources"), ("sources", "daemon"),
])
def test_named_rules_hold(lower: str, higher: str) -> None:
    arrows = [f"{m} -> {t}" for m, targets in _graph().items() for t in targets
              if _stage(m) == lower and _stage(t) == higher]
    assert not arrows


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _without_package_faces(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's ``__init__`` re-exporting its submodules is not a dependency of theirs:
    drop the arrows from a package to the modules inside it."""
    return {module: {t for t in targets if not t.startswith(module + ".")}
            for module, targets in graph.items()}


def test_no_cycles() -> None:
    cycles = _cycles(_without_package_faces(_graph()))
    assert not cycles, "modules that import each other in a circle:\n" + "\n".join(
        " <-> ".join(c) for c in cycles)


def test_the_checker_sees_a_cycle_and_an_upward_arrow() -> None:
    """The checks above could pass by seeing nothing: hold them against known inputs."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _upward({"monitor.normalize.x": {"monitor.store.writer", "monitor.model"},
                    "monitor.findings.y": {"monitor.detect.schema"},
                    "monitor.store.z": {"monitor.store.client", "monitor.errors"}}) == [
        "monitor.findings.y -> monitor.detect.schema", "monitor.normalize.x -> monitor.store.writer"]
    assert "monitor.store.writer" in _graph()
    assert "monitor.model" in _graph()["monitor.store.writer"]
    assert RANK["store"] < RANK["sources"] < RANK["daemon"] < RANK["cli"]
