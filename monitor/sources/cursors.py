"""Where each change source keeps its cursor, and how to move it back.

A source's cursor (in the state index) says how far it has read; a first run starts
``initial_lookback_days`` back and later runs only read what is newer. To backfill from a date,
or to start a source over, the cursor is *rewound*: every ``*_since`` time moves back to the
date (never forward), and position markers that are not times (git branch tips and the next
page of a git import, Argo CD history ids) are dropped, so the next run re-reads and stable
document ids keep it from duplicating anything.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..settings import ArgoCdSource, GithubSource, GitlabSource, GitRepoSource
from ..store import StateStore

__all__ = ["ChangeSource", "cursor_key", "cursor_keys", "first_cursor", "rewind", "rewound"]

ChangeSource = GitRepoSource | GithubSource | GitlabSource | ArgoCdSource

#: cursor fields that mark a position but are not times: dropped when rewinding to a date
#: (``pending``: the page a git import continues from, pinned to the tips it started with)
_POSITIONS = ("branches", "tags", "pending", "last_history_id")


def cursor_key(kind: str, name: str, item: str | None = None) -> str:
    """The one spelling of a change source's state key (the sources and ``rewind`` share it):
    ``kind:name``, or ``kind:name:item`` per GitHub repository or GitLab project."""
    return f"{kind}:{name}" if item is None else f"{kind}:{name}:{item}"


def cursor_keys(kind: str, cfg: ChangeSource) -> list[str]:
    """The state keys a change source reads and writes (one per repository or project)."""
    if isinstance(cfg, GithubSource):
        return [cursor_key("github", cfg.name, repo) for repo in cfg.repositories]
    if isinstance(cfg, GitlabSource):
        return [cursor_key("gitlab", cfg.name, project) for project in cfg.projects]
    return [cursor_key(kind, cfg.name)]


def first_cursor(cfg: ChangeSource, since: str) -> dict[str, Any] | None:
    """The cursor a forge would have had if it had last read at ``since``: lets ``--since``
    reach further back than ``initial_lookback_days`` on a first run. ``None`` where the source
    takes the date itself (git) or reads its whole history anyway (Argo CD)."""
    if isinstance(cfg, GithubSource):
        return {"deployments_since": since, "pulls_since": since,
                "commits_since": {branch: since for branch in cfg.protected_branches}}
    if isinstance(cfg, GitlabSource):
        return {"deployments_since": since, "merge_requests_since": since}
    return None


def rewound(value: dict[str, Any], since: str | None) -> dict[str, Any]:
    """The cursor moved back to ``since`` (ISO time; ``None``: start over). Pure.

    ``*_since`` times later than ``since`` become ``since`` (earlier ones stay: a rewind never
    skips anything); position markers are dropped. ``None`` empties the cursor."""
    if since is None:
        return {}
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in _POSITIONS:
            continue
        if key.endswith("_since"):
            out[key] = ({k: min(str(v), since) for k, v in item.items()}
                        if isinstance(item, dict) else min(str(item), since))
        else:
            out[key] = item
    return out


async def rewind(state: StateStore, cfg: ChangeSource, keys: Iterable[str],
                 since: str | None) -> list[str]:
    """Rewind the stored cursors under ``keys``; returns the keys that changed."""
    changed = []
    for key in keys:
        current = await state.get(key)
        if current is None:
            seed = first_cursor(cfg, since) if since else None
            if seed is not None:  # never read: start there instead of the lookback
                await state.put(key, seed, None)
                changed.append(key)
            continue
        value = rewound(current.value, since)
        if value != current.value:
            await state.put(key, value, current)
            changed.append(key)
    return changed
