"""Safe YAML loading for every user-edited file: no object tags, duplicate keys refused.

A plain loader silently keeps the last of two equal keys; in a rule or a config that hides
a mistake, so we refuse it and say where.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .errors import YamlError

__all__ = ["YamlError", "load_yaml", "load_yaml_text", "locate"]


#: nodes a document may have once its aliases are expanded; a rule or a config has hundreds
MAX_EXPANDED_NODES = 100_000


class _StrictLoader(yaml.SafeLoader):
    def construct_document(self, node: yaml.Node) -> Any:
        _check_expansion(node)
        return super().construct_document(node)


def _check_expansion(root: yaml.Node) -> None:
    """Refuse an alias bomb (a "billion laughs"): the loaded objects share aliased parts, but
    whoever walks them (the rule compiler, a JSON dump) pays for every expansion. A 1.6 KB rule
    with 8 nested alias levels took 2.1 GB to compile. The expanded size is counted once per
    node (memoized), so the check itself is linear in the text."""
    sizes: dict[int, int] = {}
    first_alias: list[yaml.Node] = []
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            if not first_alias:
                first_alias.append(node)
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        if done:
            total = 1 + sum(sizes.get(id(child), 1) for child in children)
            sizes[id(node)] = total
            if total > MAX_EXPANDED_NODES:
                mark = (first_alias[0] if first_alias else node).start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"aliases expand to more than {MAX_EXPANDED_NODES:,} nodes "
                    f"(an alias bomb?); write the values out instead", mark)
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"duplicate key {key!r} (line {mark.line + 1})", mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml_text(text: str, source: str = "<string>") -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        where = f"{source}:{line}:{column}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlError(f"{where}: invalid YAML: {problem}", source, line, column) from exc


def load_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlError(f"{path}: cannot read: {exc}", str(path)) from exc
    return load_yaml_text(text, str(path))


def locate(path: str | Path, loc: Sequence[str | int], *, key: bool = False
           ) -> tuple[int, int] | None:
    """Line and column (from 1) of the value at ``loc`` (keys and list indexes) in the YAML file
    ``path``: of the deepest part of ``loc`` that exists, so a missing field points at the
    mapping that lacks it; ``key``: of the last key itself rather than its value (an unknown
    key). None when the file cannot be read or parsed. Used only to place an error, so the file
    is read again rather than carrying positions through every load."""
    try:
        node = yaml.compose(Path(path).read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if node is None:
        return None
    mark = node.start_mark
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value
                         if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
            found = pair[1] if pair else None
            if pair:
                mark = pair[0].start_mark if key else pair[1].start_mark
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and 0 <= part < len(node.value):
            found = node.value[part]
            mark = found.start_mark
        else:
            found = None
        if found is None:
            break
        node = found
    return mark.line + 1, mark.column + 1
