"""Where a commit, tag, pull request, review, deployment or sync becomes a ``changes`` document.

Pure functions: parsed git records (``monitor.sources.git``) and forge API objects (GitHub,
GitLab, Argo CD JSON as documented) in, ``Document(kind="changes", id=..., source=...)`` out.
No I/O and no clock: a time that is not in the input (when a rewrite was detected) is passed in.

Ids are stable so a replay collides instead of duplicating: ``git:<repo>:commit:<sha>``,
``github:<source>:<owner/name>:deployment:<id>``, ``argocd:<source>:<app>:history:<id>`` …

Field names follow ``monitor.store.mappings.CHANGES``; ``change.kind`` is one of ``KINDS``.
Text from commits and forges is attacker-controlled: it is truncated, never interpreted, and
trailer keys become values (``change.trailers[].key``), never field names.

What lives where: ``common`` holds what every document shares (``RepoInfo``, ``change_id``,
tickets, trailers, the document skeleton, ``history_gap_document``); ``git`` commits, tags and
rewrites with their signatures; ``facts`` what a change's approval and checks are judged on
(latest approvals, the last pusher, check runs, GitLab approval rules; the judgement itself is
``monitor.compliance.change_review``); ``github``, ``gitlab`` and ``argocd`` each provider's
documents. Import from this package, not from the modules.
"""
from __future__ import annotations

from .argocd import argocd_history_document, argocd_operation_document
from .common import KINDS, RepoInfo, change_id, find_tickets, history_gap_document, parse_trailers
from .facts import (
    PUSH_ACTIVITY_TYPES,
    CheckRuns,
    PushLookup,
    check_runs,
    gitlab_rule_facts,
    head_push,
    latest_approvals,
    people,
)
from .git import (
    commit_document,
    rewrite_document,
    tag_deleted_document,
    tag_document,
    tag_moved_document,
)
from .github import (
    branch_protection_document,
    github_deployment_document,
    github_deployment_status_document,
    github_direct_push_document,
    github_pull_request_document,
    github_review_document,
    protection_summary,
)
from .gitlab import gitlab_deployment_document, gitlab_merge_request_document

__all__ = [
    "KINDS",
    "PUSH_ACTIVITY_TYPES",
    "CheckRuns",
    "PushLookup",
    "RepoInfo",
    "argocd_history_document",
    "argocd_operation_document",
    "branch_protection_document",
    "change_id",
    "check_runs",
    "commit_document",
    "find_tickets",
    "github_deployment_document",
    "github_deployment_status_document",
    "github_direct_push_document",
    "github_pull_request_document",
    "github_review_document",
    "gitlab_rule_facts",
    "gitlab_deployment_document",
    "gitlab_merge_request_document",
    "head_push",
    "history_gap_document",
    "latest_approvals",
    "parse_trailers",
    "people",
    "protection_summary",
    "rewrite_document",
    "tag_deleted_document",
    "tag_document",
    "tag_moved_document",
]
