"""GitHub (and GitHub Enterprise) REST API as a change-evidence source.

Pull sources (``sources/base.py``), one per repository, that the daemon and ``monitor ingest
git`` drive with the ingest pipeline::

    for repository in github_repositories(cfg):     # share one connection until close()
        report = await ingest_once(repository, writer, state, close=False)

Per repository, what is new since the last run (cursors in the state index under
``github:<source>:<owner/name>``) becomes ``changes`` documents:

* a daily snapshot of the active branch rules (``rules/branches/{b}``, readable with
  metadata:read) and classic protection (``branches/{b}/protection``, needs admin; a 403/404
  is recorded as absent) for each protected branch; it also gives the required check names;
* deployments and every deployment status (GitHub deletes previous statuses after 90 days),
  with the check runs of the deployed SHA judged against the required checks;
* merged pull requests into protected branches with reviews, commits and the check runs of
  the head SHA; ``independent_approval`` is true only when someone approved who is not the
  author, not a commit author/committer and not the last pusher (``normalize.changes``).
  The last pusher is the actor of the Repository Activity API entry (``repos/{r}/activity``)
  that pushed the head SHA to the head branch; when that API cannot answer (404 on older
  GitHub Enterprise Server, a head branch in a fork, the entry gone) the head commit's
  committer stands in and the document records the fallback and why;
* commits on protected branches without an associated pull request (``direct_push``).

Auth is a token (``Authorization: Bearer``) or a GitHub App installation token minted from the
App's private key (RS256 JWT, cached until shortly before it expires). ``base_url`` points at
GitHub Enterprise Server (``https://ghe.example.com/api/v3``). Pagination, ETags and rate
limits are ``forges.http``'s job.
"""
from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from contextlib import aclosing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from ...identifiers import OBJECT_ID
from ...model import DeadLetter, Document
from ...normalize import changes
from ..base import Batch
from ..cursors import cursor_key
from .common import ForgeConnection, collect, guard, http_counts, iso
from .http import ForgeError, ForgeHttp, build_client

if TYPE_CHECKING:  # pragma: no cover
    import httpx

    from ...settings import GithubSource as GithubSettings

__all__ = ["API_VERSION", "GithubAuth", "GithubRepository", "PushActors", "github_repositories",
           "required_checks"]

API_VERSION = "2022-11-28"
_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


class GithubAuth:
    """Headers for a token, or an App installation token minted and cached on demand."""

    def __init__(self, cfg: GithubSettings, clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.clock = clock
        self._token: str | None = None
        self._expires = 0.0
        self.http: ForgeHttp | None = None

    async def __call__(self) -> dict[str, str]:
        if self.cfg.token is not None:
            return {"Authorization": f"Bearer {self.cfg.token.get_secret_value()}"}
        if self.cfg.app_id is None or self.cfg.private_key is None \
                or self.cfg.installation_id is None:
            return {}
        if self._token is None or self.clock() > self._expires - 300:
            assert self.http is not None
            jwt = app_jwt(self.cfg.app_id, self.cfg.private_key.get_secret_value(), self.clock())
            reply = await self.http.post(
                f"app/installations/{int(self.cfg.installation_id)}/access_tokens",
                headers={"Authorization": f"Bearer {jwt}"})
            self._token = str(reply.data["token"])
            expires = str(reply.data.get("expires_at") or "")
            try:
                self._expires = datetime.fromisoformat(expires).timestamp()
            except ValueError:
                self._expires = self.clock() + 3000
        return {"Authorization": f"Bearer {self._token}"}


def app_jwt(app_id: int, private_key_pem: str, now: float) -> str:
    """RS256 JWT for a GitHub App (valid 9 minutes, issued 60 s in the past for clock skew)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "RS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = b64(json.dumps({"iat": int(now) - 60, "exp": int(now) + 540, "iss": str(app_id)},
                             separators=(",", ":")).encode())
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):  # the settings do not check the key's kind
        # a TypeError, as the wrong key's own sign() raised before this check
        raise TypeError(f"a GitHub App private key must be RSA (RS256), not {type(key).__name__}")
    signature = key.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{b64(signature)}"


def required_checks(snapshot: dict[str, Any]) -> list[str]:
    """Required status-check names from branch rules and classic protection."""
    names: list[str] = []
    for rule in snapshot.get("rules") or []:
        if isinstance(rule, dict) and rule.get("type") == "required_status_checks":
            for check in (rule.get("parameters") or {}).get("required_status_checks") or []:
                if isinstance(check, dict) and check.get("context"):
                    names.append(str(check["context"]))
    classic = snapshot.get("protection") or {}
    if isinstance(classic, dict):
        status = classic.get("required_status_checks") or {}
        names += [str(c) for c in status.get("contexts") or []]
        names += [str(c.get("context")) for c in status.get("checks") or []
                  if isinstance(c, dict) and c.get("context")]
    return sorted(set(names))


#: one item as read, built into documents by ``_build``: ("protection", branch, day, snapshot,
#: previous hash, detection time), ("deployment", deployment, checks, run, approvals,
#: statuses), ("pull request", pull request, reviews, commits, checks, push lookup),
#: ("direct push", branch, commit) or ("malformed", what, item, dead letter)
_Read = (tuple[Literal["protection"], str, str, dict[str, Any], str | None, str]
         | tuple[Literal["deployment"], dict[str, Any], changes.CheckRuns | None,
                 dict[str, Any] | None, list[dict[str, Any]], list[dict[str, Any]]]
         | tuple[Literal["pull request"], dict[str, Any], list[dict[str, Any]],
                 list[dict[str, Any]], changes.CheckRuns | None, changes.PushLookup]
         | tuple[Literal["direct push"], str, dict[str, Any]])
GithubRecord = _Read | tuple[Literal["malformed"], str, Any, DeadLetter]


class GithubRepository:
    """One repository of a configured GitHub as a pull source (its own cursor,
    ``github:<source>:<owner/name>``); the repositories of one GitHub share its connection
    (and with it the App installation token and the ETag cache)."""

    check_time = True  # times come from the API: screened before they choose an index

    def __init__(self, cfg: GithubSettings, repo: str, connection: ForgeConnection, *,
                 now: datetime | None = None) -> None:
        self.cfg, self.repo, self.connection = cfg, repo, connection
        self.name = f"github:{cfg.name}"
        self.cursor_key = cursor_key("github", cfg.name, repo)
        self._now = now

    async def fetch(self, cursor: dict[str, Any] | None) -> Batch[GithubRecord]:
        """Branch rules, deployments, merged pull requests and direct pushes since the cursor
        (see module doc)."""
        cfg, repo = self.cfg, self.repo
        if not _REPO_RE.match(repo):
            raise ForgeError(f"{cfg.name}: repository must be owner/name, got {repo[:100]!r}")
        http = self.connection.http()
        before = replace(http.counters)
        now = (self._now or datetime.now(UTC)).astimezone(UTC)
        value: dict[str, Any] = dict(cursor or {})
        records = await _read(http, cfg, repo, value, now, self.name)
        documents = sum(len(_build(cfg.name, repo, r)) for r in records if r[0] != "malformed")
        return Batch(records, value, {"documents": documents,
                                      **http_counts(before, http.counters)})

    def normalize(self, record: GithubRecord) -> Iterable[Document | DeadLetter]:
        if record[0] == "malformed":
            return [record[3]]  # the dead letter fetch made of it
        return _build(self.cfg.name, self.repo, record)

    async def close(self) -> None:
        await self.connection.close()


def github_repositories(cfg: GithubSettings, client: httpx.AsyncClient | None = None, *,
                        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                        now: datetime | None = None) -> list[GithubRepository]:
    """The pull sources of one configured GitHub: one per repository, one shared connection."""
    auth = GithubAuth(cfg)

    def make_http(c: httpx.AsyncClient) -> ForgeHttp:
        http = ForgeHttp(cfg.name, cfg.base_url, c, sleep=sleep, auth=auth,
                         headers={"Accept": "application/vnd.github+json",
                                  "X-GitHub-Api-Version": API_VERSION,
                                  "User-Agent": "pci-compliance-monitor"})
        auth.http = http
        return http

    connection = ForgeConnection(lambda: build_client(cfg.tls, cfg.timeout_seconds), make_http,
                                 client)
    return [GithubRepository(cfg, repo, connection, now=now) for repo in cfg.repositories]


def _build(source: str, repo: str, record: _Read) -> list[Document]:
    """The documents of one read item (pure; raises for an item of an unexpected shape)."""
    if record[0] == "protection":
        _, branch, day, snapshot, previous, detected = record
        return [changes.branch_protection_document("github", source, repo, branch, day,
                                                   snapshot, previous, detected)]
    if record[0] == "deployment":
        _, dep, checks, run, approvals, statuses = record
        return [changes.github_deployment_document(source, repo, dep, checks, run, approvals),
                *(changes.github_deployment_status_document(source, repo, dep, status)
                  for status in statuses)]
    if record[0] == "pull request":
        _, pr, reviews, commits, checks, push = record
        return [changes.github_pull_request_document(source, repo, pr, reviews, commits,
                                                     checks, push),
                *(changes.github_review_document(source, repo, pr, review)
                  for review in reviews if review.get("id") is not None)]
    _, branch, commit = record
    return [changes.github_direct_push_document(source, repo, branch, commit)]


async def _read(http: ForgeHttp, cfg: GithubSettings, repo: str, value: dict[str, Any],
                now: datetime, label: str) -> list[GithubRecord]:
    """Everything new of one repository since the cursor ``value``, which it moves on (in
    place) past what was read: only items read without error move it."""
    lookback = iso(now - timedelta(days=cfg.initial_lookback_days))
    read = _RepoRead(http, cfg, repo, label)
    protection = await read.protection_snapshots(value, now)
    newest = await read.deployments(value, lookback)
    newest_pr = await read.pull_requests(value, lookback)
    commit_since = await read.direct_pushes(value, lookback)
    value.update({"protection": protection, "deployments_since": newest,
                  "pulls_since": newest_pr, "commits_since": commit_since})
    return read.records


class _RepoRead:
    """One repository's read, in API order: branch protection (1), deployments (2), merged
    pull requests (3), direct pushes (4). Each step returns its new cursor value; ``_read``
    writes them into the cursor only when all steps are done."""

    def __init__(self, http: ForgeHttp, cfg: GithubSettings, repo: str, label: str) -> None:
        self.http, self.cfg, self.repo, self.label = http, cfg, repo, label
        self.r = quote(repo, safe="/")
        self.records: list[GithubRecord] = []
        self.protection: dict[str, Any] = {}

    def add(self, record: _Read) -> None:
        # raises here, not in normalize, for a malformed item
        _build(self.cfg.name, self.repo, record)
        self.records.append(record)

    async def guarded(self, what: str, item: Any, handle: Callable[..., Awaitable[Any]],
                      *args: Any) -> Any:
        letters: list[DeadLetter] = []
        mark = len(self.records)
        result = await guard(letters, self.label, what, item, handle, *args)
        if letters:
            del self.records[mark:]  # nothing half-read from this item
            self.records.append(("malformed", what, item, letters[0]))
        return result

    def required_for(self, ref: str | None) -> list[str]:
        name = (ref or "").removeprefix("refs/heads/")
        return list((self.protection.get(name) or {}).get("required") or [])

    async def protection_snapshots(self, value: dict[str, Any], now: datetime) -> dict[str, Any]:
        """1. daily branch rules / protection snapshot (also: which checks are required)"""
        http, cfg, r = self.http, self.cfg, self.r
        today = now.date().isoformat()
        protection: dict[str, Any] = dict(value.get("protection") or {})
        self.protection = protection
        for branch in cfg.protected_branches:
            entry = protection.get(branch) or {}
            if entry.get("day") == today:
                continue
            b = quote(branch, safe="")
            rules = await collect(http, f"repos/{r}/rules/branches/{b}", {"per_page": 100},
                                  missing_ok=True)
            try:
                classic = (await http.get(f"repos/{r}/branches/{b}/protection", etag=False)).data
            except ForgeError as exc:
                if exc.status not in (403, 404):
                    raise
                classic = None
            snapshot: dict[str, Any] = {"rules": rules, "protection": classic}
            record: _Read = ("protection", branch, today, snapshot, entry.get("hash"), iso(now))
            doc = _build(cfg.name, self.repo, record)[0]
            self.records.append(record)
            protection[branch] = {"day": today, "hash": doc.source["change"]["protection"]["hash"],
                                  "required": required_checks(snapshot)}
        return protection

    async def deployments(self, value: dict[str, Any], lookback: str) -> str:
        """2. deployments and all their statuses; returns the newest creation time read"""
        http, r = self.http, self.r
        dep_since = value.get("deployments_since") or lookback
        cutoff = iso(_parse(dep_since) - timedelta(days=1))
        newest = dep_since
        first = True
        async for page in http.pages(f"repos/{r}/deployments", {"per_page": 100}):
            if first and http.last_status == 304 and value.get("deployments_since"):
                break  # nothing changed since the last run (and it cost no quota)
            first = False
            stop = False
            for dep in page:
                created = str(dep.get("created_at") or "") if isinstance(dep, dict) else ""
                if created and created < cutoff:
                    stop = True
                    continue
                if await self.guarded("deployment", dep, self.deployment):
                    newest = max(newest, created)
            if stop:
                break
        return newest

    async def deployment(self, dep: dict[str, Any]) -> None:
        http, r = self.http, self.r
        dep_id = int(dep["id"])
        sha = str(dep.get("sha") or "")
        checks = await _checks(http, r, sha, self.required_for(dep.get("ref")))
        statuses = await collect(http, f"repos/{r}/deployments/{dep_id}/statuses",
                                 {"per_page": 100})
        run, approvals = await _run_approvals(http, r, statuses)
        self.add(("deployment", dep, checks, run, approvals, statuses))

    async def pull_requests(self, value: dict[str, Any], lookback: str) -> str:
        """3. merged pull requests into protected branches, with reviews and checks; returns
        the newest update time read"""
        http, r = self.http, self.r
        pr_since = value.get("pulls_since") or lookback
        newest_pr = pr_since
        pushers = PushActors(http, self.repo)
        for branch in self.cfg.protected_branches:
            async for page in http.pages(f"repos/{r}/pulls", {
                    "state": "closed", "base": branch, "sort": "updated", "direction": "desc",
                    "per_page": 100}):
                stop = False
                for pr in page:
                    updated = str(pr.get("updated_at") or "") if isinstance(pr, dict) else ""
                    if updated and updated < pr_since:
                        stop = True
                        break
                    if isinstance(pr, dict) and not pr.get("merged_at"):
                        continue
                    if await self.guarded("pull request", pr, self.pull_request, branch,
                                          pushers):
                        newest_pr = max(newest_pr, updated)
                if stop:
                    break
        return newest_pr

    async def pull_request(self, pr: dict[str, Any], branch: str, pushers: PushActors) -> None:
        http, r = self.http, self.r
        number = int(pr["number"])
        reviews = await collect(http, f"repos/{r}/pulls/{number}/reviews", {"per_page": 100})
        commits = await collect(http, f"repos/{r}/pulls/{number}/commits", {"per_page": 100})
        head = str((pr.get("head") or {}).get("sha") or "")
        checks = await _checks(http, r, head, self.required_for(branch))
        push = await pushers.lookup(pr)
        self.add(("pull request", pr, reviews, commits, checks, push))

    async def direct_pushes(self, value: dict[str, Any], lookback: str) -> dict[str, str]:
        """4. commits on protected branches that no pull request brought in; returns the
        newest commit time read per branch"""
        http, cfg, r = self.http, self.cfg, self.r
        commit_since: dict[str, str] = dict(value.get("commits_since") or {})
        for branch in cfg.protected_branches:
            since = commit_since.get(branch) or lookback
            newest_commit = since
            seen = 0
            async for page in http.pages(f"repos/{r}/commits", {"sha": branch, "since": since,
                                                                "per_page": 100}):
                for commit in page:
                    if seen >= cfg.max_commits_per_run:
                        break
                    seen += 1
                    date = await self.guarded("commit", commit, self.direct_push, branch)
                    if isinstance(date, str):
                        newest_commit = max(newest_commit, date)
                if seen >= cfg.max_commits_per_run:
                    break
            commit_since[branch] = newest_commit
        return commit_since

    async def direct_push(self, commit: dict[str, Any], branch: str) -> str:
        http, r = self.http, self.r
        sha = str(commit.get("sha") or "")
        if not re.fullmatch(r"[0-9a-f]{40}", sha):
            raise ValueError(f"not a commit SHA: {sha[:80]!r}")
        pulls = (await http.get(f"repos/{r}/commits/{sha}/pulls")).data
        if isinstance(pulls, list) and not pulls:
            self.add(("direct push", branch, commit))
        return str(((commit.get("commit") or {}).get("committer") or {}).get("date") or "")


_RUN_RE = re.compile(r"/actions/runs/([0-9]{1,20})(?:/|$)")


class PushActors:
    """Who pushed each pull request's head SHA to its head branch, for one repository and run.

    One ``GET repos/{r}/activity?ref=refs/heads/<head>`` per pull request, newest first, paged
    through ``ForgeHttp`` (ETag, Link, rate limits) until the entry whose ``after`` is the head
    SHA turns up. No ``activity_type`` filter: it takes one type per request and a branch first
    pushed with its head SHA is a ``branch_creation``. A 403/404 (GitHub Enterprise Server
    without the API, a token that may not read it) is remembered so the other pull requests of
    the run do not ask again. Every miss is a ``PushLookup`` whose ``fallback`` says why."""

    def __init__(self, http: ForgeHttp, repo: str, max_pages: int = 5) -> None:
        self.http = http
        self.repo = repo
        self.path = f"repos/{quote(repo, safe='/')}/activity"
        self.max_pages = max_pages
        self.unavailable: int | None = None  # the status that said the API is not there

    async def lookup(self, pr: dict[str, Any]) -> changes.PushLookup:
        head = pr.get("head") or {}
        sha, ref = str(head.get("sha") or ""), str(head.get("ref") or "")
        if not OBJECT_ID.match(sha) or not ref:
            return changes.PushLookup(fallback="no_head")
        head_repo = str((head.get("repo") or {}).get("full_name") or "")
        if head_repo.casefold() != self.repo.casefold():
            # the push happened in the fork (or a deleted one): not in this repository's log
            return changes.PushLookup(fallback="head_in_fork")
        if self.unavailable is not None:
            return changes.PushLookup(fallback="activity_api_unavailable")
        merged_at = _text(pr.get("merged_at"))
        params = {"ref": f"refs/heads/{ref}", "direction": "desc", "per_page": 100}
        try:
            async with aclosing(self.http.pages(self.path, params,
                                                max_pages=self.max_pages)) as pages:
                async for page in pages:
                    found = changes.head_push(page, sha, merged_at)
                    if found is not None:
                        return found
        except ForgeError as exc:
            if exc.status not in (403, 404):
                raise
            self.unavailable = exc.status
            return changes.PushLookup(fallback="activity_api_unavailable")
        return changes.PushLookup(fallback="no_push_for_head_sha")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


async def _run_approvals(http: ForgeHttp, r: str, statuses: list[dict[str, Any]]
                         ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The Actions run behind a deployment (from a status' log/target URL) and its
    environment approvals; (None, []) when the deployment was not made by Actions."""
    for status in statuses:
        for url_field in ("log_url", "target_url"):
            match = _RUN_RE.search(str(status.get(url_field) or ""))
            if match:
                run_id = int(match.group(1))
                try:
                    run = (await http.get(f"repos/{r}/actions/runs/{run_id}")).data
                except ForgeError as exc:
                    if exc.status in (403, 404):
                        return None, []
                    raise
                approvals = await collect(http, f"repos/{r}/actions/runs/{run_id}/approvals",
                                          missing_ok=True)
                return (run if isinstance(run, dict) else None), approvals
    return None, []


async def _checks(http: ForgeHttp, r: str, sha: str,
                  required: list[str]) -> changes.CheckRuns | None:
    if not re.fullmatch(r"[0-9a-f]{40}", sha):
        return None
    runs = await collect(http, f"repos/{r}/commits/{sha}/check-runs",
                         {"filter": "latest", "per_page": 100}, key="check_runs")
    return changes.check_runs(sha, runs, required)


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)
