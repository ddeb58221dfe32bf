"""Git repositories as a change-evidence source. The only module that runs ``git``.

Entry point for the daemon (one call per configured repository and schedule tick)::

    stats = await sync_repo(cfg, writer, state, cache_dir)   # -> SyncStats

``sync_repo`` keeps a bare mirror of ``cfg.url`` in ``cache_dir/<name>.git`` (local paths are
mirrored too, so the monitor never writes into a user's repository), fetches it, and turns what
is new since the last run into ``changes`` documents: commits and merges per configured branch,
tags (created, moved, deleted), and a ``history_rewrite`` event when a branch's recorded tip is
no longer an ancestor of its new tip (force push; the range is rescanned from the merge base
and the old tip is kept reachable under ``refs/daemon/archive/``). Per-repository progress
(branch tips, tags) lives in the state index under ``git:<name>`` and is advanced only after the
documents are written, so a crash or an Elasticsearch outage repeats work instead of losing it
(stable ids make the repeat harmless). ``SyncStats`` carries the counters the metrics module reads.

Safety rules, all enforced here:

* git runs from argv lists, never a shell; revisions follow ``--end-of-options``, paths follow
  ``--``; refs are resolved to full SHAs (checked against a regex) before any other command
  sees them, and full refnames are used (``refs/heads/x``), never short names;
* hardened environment: no prompts, no askpass, no system or global config, no hooks, no
  fsmonitor, no replace objects, no mailmap; timeouts on every call;
* URL scheme allow-list: ``https://``, ``ssh://`` (or ``user@host:path``) and absolute local
  paths; ``ext::``-style transports, leading dashes, whitespace and passwords in URLs are
  refused; the protocol allow-list is also given to git itself;
* credentials (``GitRepoSource.token``) reach git through ``http.extraHeader`` in the
  environment (``GIT_CONFIG_*``), never in a URL that is stored or logged.

Reading is one streaming ``git log -z`` pass with NUL-separated fields (commit messages cannot
contain NUL, so hostile text cannot forge a field boundary), ``--name-status`` for changed
paths and ``--diff-merges=first-parent`` for merges. Signature verdicts (``%G?`` and friends)
come from a second pass over the new commits only and are cached per repository by SHA
(re-verified when the allowed-signers file changes). git does not check that the signer is the
committer: ``Signature.matches`` does.
"""
from __future__ import annotations

from ..base import SyncStats
from .mirror import Mirror, SignatureCache
from .records import GitCommit, GitError, GitTag, Signature
from .runner import Git, check_url, redact_url
from .sync import sync_repo

__all__ = [
    "Git",
    "GitCommit",
    "GitError",
    "GitTag",
    "Mirror",
    "Signature",
    "SignatureCache",
    "SyncStats",
    "check_url",
    "redact_url",
    "sync_repo",
]
