"""GitLab REST API (v4) as a change-evidence source.

Entry point for the daemon::

    stats = await sync_gitlab(cfg, writer, state, client=None)   # -> SyncStats

Per project (``group/project`` or a numeric id), since the cursors kept under
``gitlab:<source>:<project>``:

* deployments updated since the last run (``order_by=updated_at``), with their approvals
  (protected environments) judged independent when the approver is not the deployer, and the
  pipeline of the deployed SHA (``deployable.pipeline``, else ``pipelines?sha=``);
* merge requests merged into protected branches, with ``approvals`` (approvers other than the
  author and the commit authors/committers count as independent), their approval rules
  (``approval_state``: whether every required rule had enough independent approvers, and
  whose) and the pipelines of the merged SHA. Approval rules are a paid-tier feature: a
  403/404 is recorded on the document as ``approval_rules.status: unavailable`` and not asked
  again for the rest of that project's run.

Pagination follows ``Link`` (or ``x-next-page`` when GitLab omits it above 10,000 records);
``RateLimit-*``/``Retry-After`` are honoured by ``forges.http``.
"""
from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ...identifiers import OBJECT_ID
from ...normalize import changes
from ..base import SyncStats
from ..cursors import cursor_key
from .common import bearer_headers, collect, forge_run, guard, iso, write
from .http import ForgeError, ForgeHttp, build_client

if TYPE_CHECKING:  # pragma: no cover
    import httpx

    from ...settings import GitlabSource
    from ...store import BulkWriter, StateStore

__all__ = ["sync_gitlab"]

_PROJECT_RE = re.compile(r"^(?:[0-9]+|[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+)$")


async def sync_gitlab(cfg: GitlabSource, writer: BulkWriter, state: StateStore,
                      client: httpx.AsyncClient | None = None, *,
                      sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                      now: datetime | None = None) -> SyncStats:
    """Collect deployments and merged merge requests (see module doc)."""
    headers = bearer_headers(cfg.token)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    async with forge_run(
        cfg.name, "gitlab", client, lambda: build_client(cfg.tls, cfg.timeout_seconds),
        lambda c: ForgeHttp(cfg.name, cfg.base_url.rstrip("/") + "/api/v4", c, headers=headers,
                            sleep=sleep),
    ) as (http, stats):
        for project in cfg.projects:
            if not _PROJECT_RE.match(project):
                raise ForgeError(f"{cfg.name}: project must be group/project or an id, "
                                 f"got {project[:100]!r}")
            await _sync_one(http, cfg, project, writer, state, stats, moment)
    return stats


async def _sync_one(http: ForgeHttp, cfg: GitlabSource, project: str, writer: BulkWriter,
                    state: StateStore, stats: SyncStats, now: datetime) -> None:
    key = cursor_key("gitlab", cfg.name, project)
    current = await state.get(key)
    value: dict[str, Any] = dict(current.value) if current else {}
    lookback = iso(now - timedelta(days=cfg.initial_lookback_days))
    pid = quote(project, safe="")
    docs: list[Any] = []

    label = f"gitlab:{cfg.name}"
    rules_missing: list[str] = []  # set once this project answered 403/404 for approval_state

    async def deployment(dep: dict[str, Any]) -> str:
        sha = str(dep.get("sha") or "")
        pipeline = ((dep.get("deployable") or {}).get("pipeline")) or None
        if pipeline:
            checks = changes.checks_verdict(sha, [{"name": f"pipeline {pipeline.get('id')}",
                                                   **pipeline}])
        else:
            checks = await _pipelines(http, pid, sha)
        docs.append(changes.gitlab_deployment_document(cfg.name, project, dep, checks))
        return str(dep.get("updated_at") or "")

    async def merge_request(mr: dict[str, Any]) -> str:
        iid = int(mr["iid"])
        approvals = (await http.get(f"projects/{pid}/merge_requests/{iid}/approvals")).data
        state = await _approval_state(http, pid, iid, rules_missing)
        commits = await collect(http, f"projects/{pid}/merge_requests/{iid}/commits",
                                {"per_page": 100})
        sha = str(mr.get("merge_commit_sha") or mr.get("squash_commit_sha")
                  or mr.get("sha") or "")
        checks = await _pipelines(http, pid, sha)
        docs.append(changes.gitlab_merge_request_document(
            cfg.name, project, mr, approvals if isinstance(approvals, dict) else {},
            commits, checks, state, rules_missing[0] if rules_missing else None))
        return str(mr.get("updated_at") or "")

    dep_since = value.get("deployments_since") or lookback
    newest = dep_since
    for dep in await collect(http, f"projects/{pid}/deployments", {
            "order_by": "updated_at", "sort": "asc", "updated_after": dep_since,
            "per_page": 100}):
        updated = await guard(docs, label, "deployment", dep, deployment)
        if isinstance(updated, str):
            newest = max(newest, updated)

    mr_since = value.get("merge_requests_since") or lookback
    newest_mr = mr_since
    for branch in cfg.protected_branches:
        for mr in await collect(http, f"projects/{pid}/merge_requests", {
                "state": "merged", "target_branch": branch, "updated_after": mr_since,
                "order_by": "updated_at", "sort": "asc", "per_page": 100}):
            updated = await guard(docs, label, "merge request", mr, merge_request)
            if isinstance(updated, str):
                newest_mr = max(newest_mr, updated)

    await write(writer, docs, stats, label)
    value.update({"deployments_since": newest, "merge_requests_since": newest_mr})
    await state.put(key, value, current)


async def _approval_state(http: ForgeHttp, pid: str, iid: int,
                          missing: list[str]) -> dict[str, Any] | None:
    """The MR's ``approval_state``, or None with the reason appended to ``missing`` (403/404:
    the tier has no approval rules or the token may not read them; remembered so the other MRs
    of the project are not asked again). Other errors stop the project as any other would."""
    if missing:
        return None
    try:
        state = (await http.get(f"projects/{pid}/merge_requests/{iid}/approval_state")).data
    except ForgeError as exc:
        if exc.status not in (403, 404):
            raise
        missing.append(f"http_{exc.status}")
        return None
    if not isinstance(state, dict):
        raise TypeError(f"approval_state is not an object: {type(state).__name__}")
    return state


async def _pipelines(http: ForgeHttp, pid: str, sha: str) -> changes.ChecksVerdict | None:
    if not OBJECT_ID.match(sha):
        return None
    pipelines = (await http.get(f"projects/{pid}/pipelines", {"sha": sha, "per_page": 20})).data
    if not isinstance(pipelines, list) or not pipelines:
        return changes.checks_verdict(sha, [])
    pipelines = [p for p in pipelines if isinstance(p, dict)]
    latest = max(pipelines, key=lambda p: int(p.get("id") or 0))
    return changes.checks_verdict(sha, [{"name": f"pipeline {latest.get('id')}", **latest}])
