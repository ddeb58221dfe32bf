"""Forge and GitOps APIs: GitHub, GitLab, Argo CD. One ``sync_*`` entry point per kind::

    await sync_github(cfg: GithubSource, writer, state, client=None) -> SyncStats
    await sync_gitlab(cfg: GitlabSource, writer, state, client=None) -> SyncStats
    await sync_argocd(cfg: ArgoCdSource, writer, state, client=None) -> SyncStats

``http`` holds the shared pagination / ETag / rate-limit logic and the per-source
``COUNTERS`` (requests, 304s, rate-limit waits) the metrics module reads.
"""
from .argocd import sync_argocd
from .github import sync_github
from .gitlab import sync_gitlab
from .http import COUNTERS, ForgeCounters, ForgeError

__all__ = [
           "COUNTERS",
           "ForgeCounters",
           "ForgeError",
           "sync_argocd",
           "sync_github",
           "sync_gitlab",
]
