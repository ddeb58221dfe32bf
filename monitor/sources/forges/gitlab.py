"""GitLab REST API (v4) as a change-evidence source.

Pull sources (``sources/base.py``), one per project (``group/project`` or a numeric id), that
the daemon and ``monitor ingest git`` drive with the ingest pipeline::

    for project in gitlab_projects(cfg):            # share one connection until close()
        report = await ingest_once(project, writer, state, close=False)

Each fetch reads what changed since the project's cursor (``gitlab:<source>:<project>``):

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
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from ...identifiers import OBJECT_ID
from ...model import DeadLetter, Document
from ...normalize import changes
from ..base import Batch
from ..cursors import cursor_key
from .common import ForgeConnection, bearer_headers, collect, guard, http_counts, iso
from .http import ForgeError, ForgeHttp, build_client

if TYPE_CHECKING:  # pragma: no cover
    import httpx

    from ...settings import GitlabSource as GitlabSettings

__all__ = ["GitlabProject", "gitlab_projects"]

_PROJECT_RE = re.compile(r"^(?:[0-9]+|[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+)$")


#: one item as read: ("deployment", project, deployment, checks), ("merge request", project,
#: merge request, approvals, commits, checks, approval state, why rules are unavailable) or
#: ("malformed", what, item, dead letter) for an item that could not be read
_Deployment = tuple[Literal["deployment"], str, dict[str, Any], changes.CheckRuns | None]
_MergeRequest = tuple[Literal["merge request"], str, dict[str, Any], dict[str, Any],
                      list[dict[str, Any]], changes.CheckRuns | None, dict[str, Any] | None,
                      str | None]
_Read = _Deployment | _MergeRequest
GitlabRecord = _Read | tuple[Literal["malformed"], str, Any, DeadLetter]


class GitlabProject:
    """One project of a configured GitLab as a pull source (its own cursor,
    ``gitlab:<source>:<project>``); the projects of one GitLab share its connection."""

    check_time = True  # times come from the API: screened before they choose an index

    def __init__(self, cfg: GitlabSettings, project: str, connection: ForgeConnection, *,
                 now: datetime | None = None) -> None:
        self.cfg, self.project, self.connection = cfg, project, connection
        self.name = f"gitlab:{cfg.name}"
        self.cursor_key = cursor_key("gitlab", cfg.name, project)
        self._now = now

    async def fetch(self, cursor: dict[str, Any] | None) -> Batch[GitlabRecord]:
        """Deployments and merged merge requests updated since the cursor (see module doc)."""
        cfg, project = self.cfg, self.project
        if not _PROJECT_RE.match(project):
            raise ForgeError(f"{cfg.name}: project must be group/project or an id, "
                             f"got {project[:100]!r}")
        http = self.connection.http()
        before = replace(http.counters)
        now = (self._now or datetime.now(UTC)).astimezone(UTC)
        value: dict[str, Any] = dict(cursor or {})
        lookback = iso(now - timedelta(days=cfg.initial_lookback_days))
        pid = quote(project, safe="")
        records: list[GitlabRecord] = []
        rules_missing: list[str] = []  # set once this project answered 403/404 for approval_state

        async def deployment(dep: dict[str, Any]) -> str:
            sha = str(dep.get("sha") or "")
            pipeline = ((dep.get("deployable") or {}).get("pipeline")) or None
            checks: changes.CheckRuns | None
            if pipeline:
                checks = changes.check_runs(sha, [{"name": f"pipeline {pipeline.get('id')}",
                                                       **pipeline}])
            else:
                checks = await _pipelines(http, pid, sha)
            record: _Deployment = ("deployment", project, dep, checks)
            _build(cfg.name, record)  # raises here, not in normalize, for a malformed item
            records.append(record)
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
            record: _MergeRequest = ("merge request", project, mr,
                      approvals if isinstance(approvals, dict) else {}, commits, checks, state,
                      rules_missing[0] if rules_missing else None)
            _build(cfg.name, record)
            records.append(record)
            return str(mr.get("updated_at") or "")

        async def guarded(what: str, item: Any,
                          handle: Callable[[dict[str, Any]], Awaitable[str]]) -> str | None:
            letters: list[DeadLetter] = []
            result = await guard(letters, self.name, what, item, handle)
            if letters:
                records.append(("malformed", what, item, letters[0]))
            return result if isinstance(result, str) else None

        dep_since = value.get("deployments_since") or lookback
        newest = dep_since
        for dep in await collect(http, f"projects/{pid}/deployments", {
                "order_by": "updated_at", "sort": "asc", "updated_after": dep_since,
                "per_page": 100}):
            updated = await guarded("deployment", dep, deployment)
            if updated is not None:
                newest = max(newest, updated)

        mr_since = value.get("merge_requests_since") or lookback
        newest_mr = mr_since
        for branch in cfg.protected_branches:
            for mr in await collect(http, f"projects/{pid}/merge_requests", {
                    "state": "merged", "target_branch": branch, "updated_after": mr_since,
                    "order_by": "updated_at", "sort": "asc", "per_page": 100}):
                updated = await guarded("merge request", mr, merge_request)
                if updated is not None:
                    newest_mr = max(newest_mr, updated)

        value.update({"deployments_since": newest, "merge_requests_since": newest_mr})
        documents = sum(1 for r in records if r[0] != "malformed")
        return Batch(records, value, {"documents": documents,
                                      **http_counts(before, http.counters)})

    def normalize(self, record: GitlabRecord) -> Iterable[Document | DeadLetter]:
        if record[0] == "malformed":
            return [record[3]]  # the dead letter fetch made of it
        return [_build(self.cfg.name, record)]

    async def close(self) -> None:
        await self.connection.close()


def gitlab_projects(cfg: GitlabSettings, client: httpx.AsyncClient | None = None, *,
                    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                    now: datetime | None = None) -> list[GitlabProject]:
    """The pull sources of one configured GitLab: one per project, one shared connection."""
    headers = bearer_headers(cfg.token)
    connection = ForgeConnection(
        lambda: build_client(cfg.tls, cfg.timeout_seconds),
        lambda c: ForgeHttp(cfg.name, cfg.base_url.rstrip("/") + "/api/v4", c, headers=headers,
                            sleep=sleep), client)
    return [GitlabProject(cfg, project, connection, now=now) for project in cfg.projects]


def _build(source: str, record: _Read) -> Document:
    """The document of one read item (pure; raises for an item of an unexpected shape)."""
    if record[0] == "deployment":
        _, project, dep, checks = record
        return changes.gitlab_deployment_document(source, project, dep, checks)
    _, project, mr, approvals, commits, checks, state, unavailable = record
    return changes.gitlab_merge_request_document(source, project, mr, approvals, commits,
                                                 checks, state, unavailable)


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


async def _pipelines(http: ForgeHttp, pid: str, sha: str) -> changes.CheckRuns | None:
    if not OBJECT_ID.match(sha):
        return None
    pipelines = (await http.get(f"projects/{pid}/pipelines", {"sha": sha, "per_page": 20})).data
    if not isinstance(pipelines, list) or not pipelines:
        return changes.check_runs(sha, [])
    pipelines = [p for p in pipelines if isinstance(p, dict)]
    latest = max(pipelines, key=lambda p: int(p.get("id") or 0))
    return changes.check_runs(sha, [{"name": f"pipeline {latest.get('id')}", **latest}])
