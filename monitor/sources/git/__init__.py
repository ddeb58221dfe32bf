"""Git repositories as a change-evidence source. The only module that runs ``git``.

A pull source (``sources/base.py``) per configured repository, driven by the ingest pipeline
like the forges (``daemon/forge_runs.ingest_changes`` for the daemon and ``monitor ingest git``)::

    source = GitRepository(cfg, cache_dir)          # kept across runs by the daemon
    stats = await ingest_changes([source], "git", cfg.name, writer, state)

``GitRepository`` keeps a bare mirror of ``cfg.url`` in ``cache_dir/<name>.git`` (local paths
are mirrored too, so the monitor never writes into a user's repository), fetches it, and turns
what is new since the last run into ``changes`` documents: commits and merges per configured
branch, tags (created, moved, deleted), and a ``history_rewrite`` event when a branch's
recorded tip is no longer an ancestor of its new tip (force push; the range is rescanned from
the merge base and the old tip is kept reachable under ``refs/daemon/archive/``). Each fetch
returns a bounded page (``PAGE_SIZE`` commits), so a first import of a long history is never
held in memory: the cursor (state key ``git:<name>``: branch tips, tags and, while pages are
left, the position of the next one; see ``repository``) moves only after each page is
written, so a crash or an Elasticsearch outage repeats at most a page instead of losing it
(stable ids make the repeat harmless). Rewrites and tag changes are found when a run is
planned, once, and written with its first page.

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

Reading is one streaming ``git log -z --date-order`` pass per branch (kept open from page to
page, ``pages``) with NUL-separated fields (commit messages cannot contain NUL, so hostile text
cannot forge a field boundary), ``--name-status`` for changed paths and
``--diff-merges=first-parent`` for merges; the first-parent line (``change.mainline``) is
followed through the commits' own parents. Signature verdicts (``%G?`` and friends) come from a
second pass over the new commits only, in batches, and are cached per repository by SHA
(re-verified when the allowed-signers file changes). git does not check that the signer is the
committer: ``Signature.matches`` does.
"""
from __future__ import annotations

from ..base import SyncStats
from .mirror import Mirror, SignatureCache
from .records import GitCommit, GitError, GitTag, Signature
from .repository import PAGE_SIZE, GitRepository
from .runner import Git, check_url, redact_url

__all__ = [
    "Git",
    "GitCommit",
    "GitError",
    "GitRepository",
    "GitTag",
    "Mirror",
    "PAGE_SIZE",
    "Signature",
    "SignatureCache",
    "SyncStats",
    "check_url",
    "redact_url",
]
