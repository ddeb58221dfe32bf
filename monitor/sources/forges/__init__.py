"""Forge and GitOps APIs: GitHub, GitLab, Argo CD.

Argo CD and GitLab are pull sources (``sources/base.py``) driven by the ingest pipeline;
``pull_sources(kind, cfg)`` gives the pull sources of one configured forge (one per cursor,
sharing one HTTP client), or None while the kind still has its ``sync_*`` entry point::

    await sync_github(cfg: GithubSource, writer, state, client=None) -> SyncStats

``http`` holds the shared pagination / ETag / rate-limit logic and the per-source
``COUNTERS`` (requests, 304s, rate-limit waits).
"""
from __future__ import annotations

from typing import Any

from .argocd import ArgoCdSource
from .github import sync_github
from .gitlab import GitlabProject, gitlab_projects
from .http import COUNTERS, ForgeCounters, ForgeError

__all__ = [
           "COUNTERS",
           "ArgoCdSource",
           "ForgeCounters",
           "ForgeError",
           "GitlabProject",
           "gitlab_projects",
           "pull_sources",
           "sync_github",
]


def pull_sources(kind: str, cfg: Any, **options: Any) -> list[Any] | None:
    """The pull sources of one configured forge (``options``: ``client``, ``sleep``, ``now``
    for tests), or None for a kind not on the pipeline yet."""
    if kind == "argocd":
        return [ArgoCdSource(cfg, **options)]
    if kind == "gitlab":
        return list(gitlab_projects(cfg, **options))
    return None
