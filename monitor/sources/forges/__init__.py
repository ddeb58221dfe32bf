"""Forge and GitOps APIs: GitHub, GitLab, Argo CD.

Each is a pull source (``sources/base.py``) driven by the ingest pipeline;
``pull_sources(kind, cfg)`` gives the pull sources of one configured forge (one per cursor:
an Argo CD, a GitLab project, a GitHub repository), which share one HTTP client.

``http`` holds the shared pagination / ETag / rate-limit logic; each client's counters
(requests, 304s, rate-limit waits) come back as the counts of the batches it fetched.
"""
from __future__ import annotations

from typing import Any

from .argocd import ArgoCdSource
from .github import GithubRepository, github_repositories
from .gitlab import GitlabProject, gitlab_projects
from .http import ForgeCounters, ForgeError

__all__ = [
           "ArgoCdSource",
           "ForgeCounters",
           "ForgeError",
           "GithubRepository",
           "GitlabProject",
           "github_repositories",
           "gitlab_projects",
           "pull_sources",
]


def pull_sources(kind: str, cfg: Any, **options: Any) -> list[Any]:
    """The pull sources of one configured forge of ``kind`` (github, gitlab, argocd);
    ``options``: ``client``, ``sleep``, ``now`` (tests)."""
    if kind == "argocd":
        return [ArgoCdSource(cfg, **options)]
    if kind == "gitlab":
        return list(gitlab_projects(cfg, **options))
    if kind == "github":
        return list(github_repositories(cfg, **options))
    raise ValueError(f"not a forge: {kind!r}")
