"""GitHub, GitLab and Argo CD through respx (shaped from the documented responses); the
documents go into the real Elasticsearch through the store fixture."""
from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from monitor.daemon.forge_runs import ingest_changes
from monitor.settings import ArgoCdSource, GithubSource, GitlabSource
from monitor.sources.forges import github_repositories, gitlab_projects
from monitor.sources.forges.argocd import ArgoCdSource as ArgoCdPull
from monitor.sources.forges.argocd import history_gaps
from monitor.sources.forges.http import ForgeError, ForgeHttp
from monitor.store import BulkWriter, StateStore

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
GH = "https://api.github.com"
SHA_DEPLOYED = "a" * 40
SHA_MERGE = "b" * 40
SHA_HEAD = "c" * 40
SHA_DIRECT = "d" * 40


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


async def _docs(store, **term: Any) -> list[dict[str, Any]]:
    await store.es.indices.refresh(index=store.names.changes, ignore_unavailable=True,
                                   allow_no_indices=True)
    query = {"bool": {"filter": [{"term": {k: v}} for k, v in term.items()]}}
    response = await store.es.search(index=store.names.changes, query=query, size=500,
                                     ignore_unavailable=True, allow_no_indices=True)
    return [dict(h["_source"], _id=h["_id"]) for h in response["hits"]["hits"]]


def _es(mock: respx.MockRouter, store) -> respx.MockRouter:
    """Let the store's own Elasticsearch traffic (httpx as well) through the mock."""
    mock.route(url__startswith=store.settings.hosts[0]).pass_through()
    return mock


def _user(login: str) -> dict[str, Any]:
    return {"login": login, "id": abs(hash(login)) % 10_000, "type": "User"}


def _deployment(dep_id: int, created: str) -> dict[str, Any]:
    return {"id": dep_id, "sha": SHA_DEPLOYED, "ref": "main", "task": "deploy",
            "environment": "production", "original_environment": "production",
            "production_environment": True, "transient_environment": False,
            "creator": _user("deploy-bot[bot]"), "created_at": created, "updated_at": created,
            "description": "policy deploy", "payload": {},
            "statuses_url": f"{GH}/repos/acme/policy/deployments/{dep_id}/statuses"}


def _pr(number: int, author: str, updated: str, merged: bool = True) -> dict[str, Any]:
    return {"number": number, "state": "closed", "title": f"Change {number} CHG00{number}1234",
            "user": _user(author), "body": "Reason: x\nTicket: NET-9",
            "html_url": f"https://github.com/acme/policy/pull/{number}",
            "merged_at": updated if merged else None, "closed_at": updated,
            "updated_at": updated, "merge_commit_sha": SHA_MERGE,
            "merged_by": _user("maintainer"),
            "head": {"sha": SHA_HEAD, "ref": f"feature-{number}",
                     "repo": {"id": 1, "full_name": "acme/policy"}},
            "base": {"ref": "main", "repo": {"id": 1, "full_name": "acme/policy"}}}


def _activity(aid: int, login: str | None, ref: str, after: str, when: str,
              kind: str = "push", before: str = "0" * 40) -> dict[str, Any]:
    """One item of ``GET /repos/{owner}/{repo}/activity`` as documented (Activity schema)."""
    return {"id": aid, "node_id": f"PSH_{aid}", "before": before, "after": after,
            "ref": ref, "timestamp": when, "activity_type": kind,
            "actor": _user(login) if login else None}


def _review(rid: int, login: str, state: str = "APPROVED", sha: str = SHA_HEAD) -> dict[str, Any]:
    return {"id": rid, "user": _user(login), "state": state, "commit_id": sha,
            "submitted_at": f"2026-11-2{rid % 5}T09:00:00Z", "author_association": "MEMBER"}


def _pr_commit(author: str, committer: str = "web-flow") -> dict[str, Any]:
    return {"sha": SHA_HEAD, "author": _user(author), "committer": _user(committer),
            "commit": {"author": {"name": author, "email": f"{author}@example.com",
                                  "date": "2026-11-20T08:00:00Z"},
                       "committer": {"name": committer, "email": f"{committer}@example.com",
                                     "date": "2026-11-20T08:00:00Z"}}}


def _github_routes(mock: respx.MockRouter, deployments_first: Any) -> None:
    r = "/repos/acme/policy"
    mock.get(f"{GH}{r}/rules/branches/main").respond(200, json=[
        {"type": "pull_request", "ruleset_source_type": "Repository",
         "ruleset_source": "acme/policy", "ruleset_id": 42,
         "parameters": {"required_approving_review_count": 1,
                        "dismiss_stale_reviews_on_push": True,
                        "require_code_owner_review": False, "require_last_push_approval": True,
                        "required_review_thread_resolution": False}},
        {"type": "required_status_checks", "ruleset_id": 42,
         "parameters": {"strict_required_status_checks_policy": True,
                        "required_status_checks": [{"context": "ci/test"}]}},
        {"type": "non_fast_forward", "ruleset_id": 42},
    ])
    mock.get(f"{GH}{r}/branches/main/protection").respond(
        403, json={"message": "Resource not accessible by integration"})
    mock.get(f"{GH}{r}/deployments").mock(side_effect=deployments_first)
    mock.get(f"{GH}/repositories/1/deployments").respond(200, json=[
        _deployment(100, "2026-11-20T10:00:00Z"), _deployment(99, "2026-01-01T10:00:00Z")])
    mock.get(f"{GH}{r}/actions/runs/555").respond(200, json={
        "id": 555, "event": "push", "actor": _user("alice"), "triggering_actor": _user("alice"),
        "html_url": "https://github.com/acme/policy/actions/runs/555"})
    mock.get(f"{GH}{r}/actions/runs/555/approvals").respond(200, json=[
        {"environments": [{"id": 1, "name": "production"}], "state": "approved",
         "comment": "ok", "user": _user("alice")},
        {"environments": [{"id": 1, "name": "production"}], "state": "approved",
         "comment": "ok", "user": _user("bob")},
        {"environments": [{"id": 1, "name": "production"}], "state": "rejected",
         "comment": "no", "user": _user("eve")}])
    for dep_id, state in ((101, "success"), (100, "failure")):
        log_url = "https://github.com/acme/policy/actions/runs/555/job/9" if dep_id == 101 \
            else "https://ci.example.com/log"
        mock.get(f"{GH}{r}/deployments/{dep_id}/statuses").respond(200, json=[
            {"id": dep_id * 10, "state": state, "environment": "production",
             "environment_url": "https://fw.example.com", "log_url": log_url,
             "creator": _user("deploy-bot[bot]"), "created_at": "2026-11-21T10:05:00Z",
             "description": "done"}])
    check_runs = {"total_count": 2, "check_runs": [
        {"id": 1, "name": "ci/test", "head_sha": SHA_DEPLOYED, "status": "completed",
         "conclusion": "success", "started_at": "2026-11-21T09:00:00Z",
         "completed_at": "2026-11-21T09:05:00Z", "app": {"slug": "github-actions"}},
        {"id": 2, "name": "lint", "head_sha": SHA_DEPLOYED, "status": "completed",
         "conclusion": "neutral", "completed_at": "2026-11-21T09:04:00Z"}]}
    mock.get(f"{GH}{r}/commits/{SHA_DEPLOYED}/check-runs").respond(200, json=check_runs)
    mock.get(f"{GH}{r}/commits/{SHA_HEAD}/check-runs").respond(200, json={
        "total_count": 1, "check_runs": [{"name": "ci/test", "status": "completed",
                                          "conclusion": "failure",
                                          "completed_at": "2026-11-20T09:00:00Z"}]})
    mock.get(f"{GH}{r}/pulls").respond(200, json=[
        _pr(7, "alice", "2026-11-24T10:00:00Z"), _pr(8, "alice", "2026-11-23T10:00:00Z"),
        _pr(9, "alice", "2026-11-22T10:00:00Z"), _pr(10, "alice", "2026-11-22T09:00:00Z", False),
        _pr(3, "alice", "2026-09-01T10:00:00Z")])
    mock.get(f"{GH}{r}/pulls/7/reviews").respond(200, json=[_review(1, "alice")])
    mock.get(f"{GH}{r}/pulls/8/reviews").respond(200, json=[
        _review(2, "alice"), _review(3, "bob"), _review(4, "dave", "CHANGES_REQUESTED")])
    mock.get(f"{GH}{r}/pulls/9/reviews").respond(200, json=[_review(5, "carol")])
    for n in (7, 8):
        mock.get(f"{GH}{r}/pulls/{n}/commits").respond(200, json=[_pr_commit("alice")])
    mock.get(f"{GH}{r}/pulls/9/commits").respond(200, json=[_pr_commit("alice"),
                                                        _pr_commit("carol")])
    mock.get(f"{GH}{r}/commits").respond(200, json=[
        {"sha": SHA_MERGE, "parents": [{"sha": "e" * 40}, {"sha": SHA_HEAD}],
         "author": _user("alice"), "committer": _user("web-flow"),
         "commit": {"message": "Merge pull request #7", "author": {
             "name": "alice", "email": "alice@example.com", "date": "2026-11-24T10:00:00Z"},
             "committer": {"name": "GitHub", "email": "noreply@github.com",
                           "date": "2026-11-24T10:00:00Z"},
             "verification": {"verified": True, "reason": "valid"}}},
        {"sha": SHA_DIRECT, "parents": [{"sha": SHA_MERGE}], "author": _user("mallory"),
         "committer": _user("mallory"),
         "commit": {"message": "hotfix straight to main", "author": {
             "name": "Mallory", "email": "mallory@example.com", "date": "2026-11-24T11:00:00Z"},
             "committer": {"name": "Mallory", "email": "mallory@example.com",
                           "date": "2026-11-24T11:00:00Z"},
             "verification": {"verified": False, "reason": "unsigned"}}}])
    mock.get(f"{GH}{r}/commits/{SHA_MERGE}/pulls").respond(200, json=[_pr(7, "alice",
                                                                      "2026-11-24T10:00:00Z")])
    mock.get(f"{GH}{r}/commits/{SHA_DIRECT}/pulls").respond(200, json=[])

    def activity(request: httpx.Request) -> httpx.Response:  # alice pushed every head
        ref = request.url.params["ref"]
        return httpx.Response(200, json=[_activity(1, "alice", ref, SHA_HEAD,
                                                   "2026-11-20T08:01:00Z")])

    mock.get(f"{GH}{r}/activity").mock(side_effect=activity)


async def sync_github(cfg: GithubSource, writer: BulkWriter, state: StateStore,
                      **options: Any):
    """One run of the GitHub pull sources (one per repository), as ``monitor ingest git``
    runs it."""
    repositories = github_repositories(cfg, **options)
    try:
        return await ingest_changes(repositories, "github", cfg.name, writer, state)
    finally:
        for repository in repositories:
            await repository.close()


def _gh_cfg(**kw: Any) -> GithubSource:
    return GithubSource(name=kw.pop("name", "gh"), token="t0ken", repositories=["acme/policy"],
                        **kw)


async def test_github_pagination_rate_limit_reviews_and_direct_push(store):
    reset = int(time.time()) + 30
    calls: list[httpx.Request] = []

    def deployments(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:  # primary rate limit exhausted
            return httpx.Response(403, json={"message": "API rate limit exceeded for user."},
                                  headers={"x-ratelimit-remaining": "0",
                                           "x-ratelimit-reset": str(reset)})
        return httpx.Response(200, json=[_deployment(101, "2026-11-21T10:00:00Z")], headers={
            "link": f'<{GH}/repositories/1/deployments?per_page=100&page=2>; rel="next", '
                    f'<{GH}/repositories/1/deployments?per_page=100&page=2>; rel="last"',
            "etag": '"dep-etag"'})

    sleeps = Sleeps()
    repositories = github_repositories(_gh_cfg(), sleep=sleeps, now=NOW)
    http = repositories[0].connection.http()
    with respx.mock(assert_all_called=False) as mock:
        _es(mock, store)
        _github_routes(mock, deployments)
        stats = await ingest_changes(repositories, "github", "gh", BulkWriter(store),
                                     StateStore(store))
    for repository in repositories:
        await repository.close()
    # rate limit: one wait until the reset, announced and counted
    assert stats.rate_limit_waits == 1 and 29 <= sleeps.calls[0] <= 32
    assert http.counters.rate_limit_waits >= 1  # the client's own counters, no module global
    assert calls[-1].headers["authorization"] == "Bearer t0ken"
    assert calls[-1].headers["x-github-api-version"] == "2022-11-28"

    deps = {d["change"]["deployment"]["id"]: d for d in await _docs(store, **{
        "change.kind": "deployment"})}
    assert set(deps) == {"101", "100"}  # page 2 followed; 99 is older than the lookback
    d = deps["101"]["change"]
    assert d["environment"] == "production" and d["sha"] == SHA_DEPLOYED
    assert d["checks_passed"] is True and d["checks_required"] == ["ci/test"]
    assert d["deployment"]["creator"] == "deploy-bot[bot]"
    # environment approvals of the Actions run: alice triggered it, so only bob counts
    assert d["approvers"] == ["alice", "bob"] and d["independent_approvers"] == ["bob"]
    assert d["run"]["triggering_actor"] == "alice"
    assert "approvers" not in deps["100"]["change"]  # not made by Actions: nothing claimed
    statuses = await _docs(store, **{"change.kind": "deployment_status"})
    assert sorted(s["change"]["deployment"]["status"] for s in statuses) == ["failure", "success"]

    prs = {p["change"]["pull_request"]["number"]: p["change"]
           for p in await _docs(store, **{"change.kind": "pull_request"})}
    assert set(prs) == {7, 8, 9}  # 10 not merged, 3 older than the lookback
    assert prs[7]["approvers"] == ["alice"] and prs[7]["independent_approval"] is False
    assert prs[8]["independent_approvers"] == ["bob"] and prs[8]["independent_approval"] is True
    assert "dave" not in prs[8]["approvers"]  # changes requested is not an approval
    assert prs[9]["approvers"] == ["carol"] and prs[9]["independent_approval"] is False
    assert prs[9]["pull_request"]["commit_authors"] == ["alice", "carol"]
    assert prs[8]["pull_request"]["last_pusher"] == "alice"
    assert prs[8]["pull_request"]["last_pusher_source"] == "activity"
    assert "last_pusher_fallback" not in prs[8]["pull_request"]
    assert prs[8]["checks_passed"] is False  # required ci/test failed on the head SHA
    assert "CHG0081234" in prs[8]["tickets"] and "NET-9" in prs[8]["tickets"]
    reviews = await _docs(store, **{"change.kind": "review"})
    self_reviews = {r["change"]["review"]["id"] for r in reviews
                    if r["change"]["review"]["self_review"]}
    assert self_reviews == {"1", "2"}

    pushes = await _docs(store, **{"change.kind": "direct_push"})
    assert [p["change"]["sha"] for p in pushes] == [SHA_DIRECT]
    assert pushes[0]["change"]["author"]["login"] == "mallory"

    protection = (await _docs(store, **{"change.kind": "branch_protection"}))[0]["change"]
    p = protection["protection"]
    assert p["pull_request_required"] and p["required_approvals"] == 1
    assert p["force_push_blocked"] and p["require_last_push_approval"]
    assert p["enforce_admins"] is False and p["changed"] is False


def _etag_deployments(seen: list[str | None]):
    """A deployments endpoint with ETag "v1": 304 to a request that sends it back, else one
    deployment; records each request's If-None-Match in ``seen``."""
    def deployments(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("if-none-match"))
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304, headers={"etag": '"v1"'})
        return httpx.Response(200, json=[_deployment(101, "2026-11-21T10:00:00Z")],
                              headers={"etag": '"v1"'})
    return deployments


async def test_github_etag_304_is_used_and_costs_nothing(store):
    seen: list[str | None] = []
    deployments = _etag_deployments(seen)

    writer, state = BulkWriter(store), StateStore(store)
    cfg = _gh_cfg(name="gh-etag")
    # the sources (and so their client and its ETag cache) last across runs, as in the daemon
    repositories = github_repositories(cfg, sleep=Sleeps(), now=NOW)
    with respx.mock(assert_all_called=False) as mock:
        _es(mock, store)
        _github_routes(mock, deployments)
        first = await ingest_changes(repositories, "github", cfg.name, writer, state)
        second = await ingest_changes(repositories, "github", cfg.name, writer, state)
    for repository in repositories:
        await repository.close()
    assert seen == [None, '"v1"']
    assert first.not_modified == 0 and second.not_modified >= 1
    assert second.indexed == 0  # nothing new: statuses, PRs, pushes all known (duplicates)
    assert len(await _docs(store, **{"change.kind": "deployment"})) == 1


def _pusher_routes(mock: respx.MockRouter, pulls: list[dict[str, Any]],
                   reviews: dict[int, list[dict[str, Any]]],
                   commits: dict[int, list[dict[str, Any]]], activity: Any) -> Any:
    """Just enough of a repository for its merged pull requests and their head pushes."""
    r = "/repos/acme/policy"
    mock.get(f"{GH}{r}/rules/branches/main").respond(200, json=[])
    mock.get(f"{GH}{r}/branches/main/protection").respond(404, json={"message": "Not Found"})
    mock.get(f"{GH}{r}/deployments").respond(200, json=[])
    mock.get(f"{GH}{r}/commits").respond(200, json=[])
    mock.get(url__regex=rf"{GH}{r}/commits/[0-9a-f]{{40}}/check-runs").respond(
        200, json={"total_count": 0, "check_runs": []})
    mock.get(f"{GH}{r}/pulls").respond(200, json=pulls)
    for number, items in reviews.items():
        mock.get(f"{GH}{r}/pulls/{number}/reviews").respond(200, json=items)
        mock.get(f"{GH}{r}/pulls/{number}/commits").respond(200, json=commits[number])
    return mock.get(f"{GH}{r}/activity").mock(side_effect=activity)


def _merged(number: int, head: str, *, fork: str | None = None) -> dict[str, Any]:
    pr = _pr(number, "alice", "2026-11-24T10:00:00Z")
    pr["head"] = {"sha": head, "ref": f"feature-{number}",
                  "repo": {"id": 2, "full_name": fork or "acme/policy"}}
    return pr


def _own_commit(login: str, sha: str) -> dict[str, Any]:
    """A commit its author also committed (no web-flow): the head committer approximation
    would name ``login`` as the last pusher."""
    return {**_pr_commit(login, login), "sha": sha}


async def test_github_last_pusher_is_the_push_actor_of_the_head_sha(store):
    head_a, head_b, head_c, head_d = "1" * 40, "2" * 40, "3" * 40, "4" * 40
    asked: list[str] = []

    def activity(request: httpx.Request) -> httpx.Response:
        ref = request.url.params["ref"]
        asked.append(ref)
        assert request.url.params["direction"] == "desc" and "activity_type" not in \
            request.url.params  # push, force_push and branch_creation all push a SHA
        entries = {
            # (a) dave force-pushed alice's commits: he is the last pusher, not alice
            "refs/heads/feature-21": [
                _activity(13, "dave", ref, head_a, "2026-11-23T09:00:00Z", "force_push",
                          before="9" * 40),
                _activity(12, "alice", ref, "9" * 40, "2026-11-22T09:00:00Z"),
                _activity(11, "alice", ref, "8" * 40, "2026-11-21T09:00:00Z",
                          "branch_creation")],
            # (b) alice pushed the head; eve re-created the branch at that SHA after the merge
            "refs/heads/feature-22": [
                _activity(23, "eve", ref, head_b, "2026-11-25T09:00:00Z", "branch_creation"),
                _activity(22, None, ref, "0" * 40, "2026-11-24T10:00:01Z", "branch_deletion"),
                _activity(21, "alice", ref, head_b, "2026-11-22T09:00:00Z")],
            # the head push aged out of the log: only an older push is left
            "refs/heads/feature-24": [
                _activity(41, "alice", ref, "7" * 40, "2026-11-20T09:00:00Z")],
        }
        return httpx.Response(200, json=entries.get(ref, []))

    pulls = [_merged(21, head_a), _merged(22, head_b),
             _merged(23, head_c, fork="mallory/policy"), _merged(24, head_d)]
    reviews = {21: [_review(211, "dave", sha=head_a)], 22: [_review(221, "bob", sha=head_b)],
               23: [_review(231, "bob", sha=head_c)], 24: [_review(241, "bob", sha=head_d)]}
    commits = {21: [_own_commit("alice", head_a)], 22: [_own_commit("alice", head_b)],
               23: [_own_commit("mallory", head_c)], 24: [_own_commit("alice", head_d)]}
    with respx.mock(assert_all_called=False) as mock:
        _es(mock, store)
        route = _pusher_routes(mock, pulls, reviews, commits, activity)
        stats = await sync_github(_gh_cfg(name="gh-push"), BulkWriter(store),
                                  StateStore(store), sleep=Sleeps(), now=NOW)
    assert stats.errors == 0 and route.call_count == 3  # the fork's head is not looked up
    assert sorted(asked) == ["refs/heads/feature-21", "refs/heads/feature-22",
                             "refs/heads/feature-24"]
    prs = {p["change"]["pull_request"]["number"]: p["change"]
           for p in await _docs(store, **{"change.kind": "pull_request",
                                          "monitor.source": "gh-push"})}
    # (a) dave is neither author nor commit author, but he pushed the head: not independent
    a = prs[21]
    assert a["pull_request"]["last_pusher"] == "dave"
    assert a["pull_request"]["last_pusher_source"] == "activity"
    assert a["pull_request"]["last_push"] == {"type": "force_push", "at": "2026-11-23T09:00:00Z",
                                              "before": "9" * 40}
    assert a["approvers"] == ["dave"] and a["independent_approvers"] == []
    assert a["independent_approval"] is False
    # (b) bob approved, alice wrote and pushed: independent; eve's later re-creation ignored
    b = prs[22]
    assert b["pull_request"]["last_pusher"] == "alice"
    assert b["pull_request"]["last_pusher_source"] == "activity"
    assert b["independent_approvers"] == ["bob"] and b["independent_approval"] is True
    # (c) fallbacks: the head commit's committer, marked with the reason
    c = prs[23]["pull_request"]
    assert c["last_pusher"] == "mallory" and c["last_pusher_source"] == "head_committer"
    assert c["last_pusher_fallback"] == "head_in_fork" and "last_push" not in c
    d = prs[24]["pull_request"]
    assert d["last_pusher"] == "alice" and d["last_pusher_source"] == "head_committer"
    assert d["last_pusher_fallback"] == "no_push_for_head_sha"


async def test_github_without_activity_api_falls_back_once_and_says_so(store):
    """GitHub Enterprise Server before the Repository Activity API answers 404: the run asks
    once, then every pull request of the repository uses the marked approximation."""
    head_a, head_b = "5" * 40, "6" * 40
    pulls = [_merged(31, head_a), _merged(32, head_b)]
    reviews = {31: [_review(311, "bob", sha=head_a)], 32: [_review(321, "bob", sha=head_b)]}
    commits = {31: [_own_commit("alice", head_a)], 32: [_own_commit("bob", head_b)]}
    with respx.mock(assert_all_called=False) as mock:
        _es(mock, store)
        route = _pusher_routes(mock, pulls, reviews, commits, lambda request: httpx.Response(
            404, json={"message": "Not Found",
                       "documentation_url": "https://docs.github.com/rest"}))
        stats = await sync_github(_gh_cfg(name="gh-ghes"), BulkWriter(store),
                                  StateStore(store), sleep=Sleeps(), now=NOW)
    assert stats.errors == 0 and route.call_count == 1
    prs = {p["change"]["pull_request"]["number"]: p["change"]
           for p in await _docs(store, **{"change.kind": "pull_request",
                                          "monitor.source": "gh-ghes"})}
    for number in (31, 32):
        pr = prs[number]["pull_request"]
        assert pr["last_pusher_source"] == "head_committer"
        assert pr["last_pusher_fallback"] == "activity_api_unavailable"
    assert prs[31]["independent_approval"] is True
    assert prs[32]["pull_request"]["last_pusher"] == "bob"  # bob committed the head himself
    assert prs[32]["independent_approval"] is False
    fallbacks = await _docs(store, **{"change.pull_request.last_pusher_source": "head_committer",
                                      "monitor.source": "gh-ghes"})
    assert len(fallbacks) == 2  # the approximation is searchable, not silent


async def test_secondary_rate_limit_retry_after_and_permission_error(store):
    sleeps = Sleeps()
    async with httpx.AsyncClient() as client:
        http = ForgeHttp("gh-sec", GH, client, sleep=sleeps)
        with respx.mock(base_url=GH) as mock:
            mock.get("/x").mock(side_effect=[
                httpx.Response(403, json={"message": "You have exceeded a secondary rate limit"},
                               headers={"retry-after": "7"}),
                httpx.Response(429, json={"message": "slow down"}),
                httpx.Response(200, json={"ok": 1})])
            mock.get("/forbidden").respond(403, json={"message": "Must have admin rights"})
            assert (await http.get("/x")).data == {"ok": 1}
            assert sleeps.calls == [7.0, 120.0]  # Retry-After, then exponential from 60 s
            with pytest.raises(ForgeError) as err:
                await http.get("/forbidden")
            assert err.value.status == 403 and len(sleeps.calls) == 2


async def test_forge_refuses_links_to_other_hosts_and_plain_http():
    async with httpx.AsyncClient() as client:
        with pytest.raises(ForgeError):
            ForgeHttp("x", "http://api.example.com", client)
        http = ForgeHttp("x", GH, client)
        with respx.mock(base_url=GH) as mock:
            mock.get("/a").respond(200, json=[1], headers={
                "link": '<https://evil.example.com/steal?page=2>; rel="next"'})
            with pytest.raises(ForgeError):
                async for _ in http.pages("/a"):
                    pass


GL = "https://gitlab.example.com/api/v4"


def _gl_user(uid: int, username: str, name: str) -> dict[str, Any]:
    return {"id": uid, "name": name, "username": username, "state": "active",
            "avatar_url": "https://www.gravatar.com/avatar/0?s=80&d=identicon",
            "web_url": f"https://gitlab.example.com/{username}"}


def _gl_rule(rid: int, name: str, rule_type: str, required: int,
             approved_by: list[dict[str, Any]], eligible: list[dict[str, Any]],
             approved: bool) -> dict[str, Any]:
    """One rule of ``GET /projects/:id/merge_requests/:iid/approval_state`` as documented:
    ``approved_by`` holds user objects (not ``{"user": …}`` as ``/approvals`` does)."""
    return {"id": rid, "name": name, "rule_type": rule_type, "eligible_approvers": eligible,
            "approvals_required": required, "users": eligible, "groups": [],
            "contains_hidden_groups": False, "approved_by": approved_by, "source_rule": None,
            "approved": approved, "overridden": False}


ALICE, BOB, CAROL = (_gl_user(1, "alice", "Alice"), _gl_user(2, "bob", "Bob"),
                     _gl_user(4, "carol", "Carol"))


async def sync_gitlab(cfg: GitlabSource, writer: BulkWriter, state: StateStore,
                      **options: Any):
    """One run of the GitLab pull sources (one per project), as ``monitor ingest git`` runs it."""
    projects = gitlab_projects(cfg, **options)
    try:
        return await ingest_changes(projects, "gitlab", cfg.name, writer, state)
    finally:
        for project in projects:
            await project.close()


async def test_gitlab_deployments_merge_requests_approvals_pipelines(store):
    pid = "net%2Fpolicy"
    mr_base = {"state": "merged", "target_branch": "main", "sha": SHA_HEAD,
               "merge_commit_sha": SHA_MERGE, "squash_commit_sha": None,
               "merged_at": "2026-11-24T10:00:00Z", "updated_at": "2026-11-24T10:00:00Z",
               "author": {"id": 1, "username": "alice", "name": "Alice"},
               "merge_user": {"id": 3, "username": "maint", "name": "Maint"},
               "description": "Ticket CHG0009999"}
    with respx.mock(assert_all_called=False) as mock:
        _es(mock, store)
        mock.get(f"{GL}/projects/{pid}/deployments").respond(200, json=[{
            "id": 41, "iid": 4, "ref": "main", "sha": SHA_DEPLOYED, "status": "success",
            "created_at": "2026-11-23T10:00:00Z", "updated_at": "2026-11-23T10:10:00Z",
            "user": {"id": 1, "username": "alice", "name": "Alice"},
            "environment": {"id": 9, "name": "production"},
            "deployable": {"id": 77, "status": "success", "finished_at": "2026-11-23T10:09:00Z",
                           "pipeline": {"id": 500, "sha": SHA_DEPLOYED, "ref": "main",
                                        "status": "success"}},
            "pending_approval_count": 0,
            "approvals": [{"user": {"id": 1, "username": "alice"}, "status": "approved",
                           "created_at": "2026-11-23T10:01:00Z", "comment": "self"},
                          {"user": {"id": 2, "username": "bob"}, "status": "approved",
                           "created_at": "2026-11-23T10:02:00Z", "comment": "lgtm"}]}])
        # page 1 of MRs says there is a page 2 only through x-next-page (no Link header)
        mock.get(f"{GL}/projects/{pid}/merge_requests", params={"page": "2"}).respond(
            200, json=[{**mr_base, "iid": 13, "title": "second"}])
        mock.get(f"{GL}/projects/{pid}/merge_requests").respond(
            200, json=[{**mr_base, "iid": 12, "title": "first"}],
            headers={"x-next-page": "2", "x-page": "1", "x-per-page": "100"})
        mock.get(f"{GL}/projects/{pid}/merge_requests/12/approvals").respond(200, json={
            "approved": True, "approvals_required": 1, "approvals_left": 0,
            "approved_by": [{"user": {"id": 1, "username": "alice", "name": "Alice"}}]})
        mock.get(f"{GL}/projects/{pid}/merge_requests/13/approvals").respond(200, json={
            "approved": True, "approvals_required": 1, "approvals_left": 0,
            "approved_by": [{"user": {"id": 2, "username": "bob", "name": "Bob"}}]})
        # 12: GitLab calls the rule approved on the author's own approval (the project lets
        # authors approve); 13: every required rule has an independent approver
        mock.get(f"{GL}/projects/{pid}/merge_requests/12/approval_state").respond(200, json={
            "approval_rules_overwritten": False, "rules": [
                _gl_rule(1, "All Members", "any_approver", 1, [ALICE], [], True)]})
        mock.get(f"{GL}/projects/{pid}/merge_requests/13/approval_state").respond(200, json={
            "approval_rules_overwritten": False, "rules": [
                _gl_rule(1, "All Members", "any_approver", 1, [BOB], [], True),
                _gl_rule(2, "Firewall owners", "regular", 1, [BOB], [BOB, CAROL], True)]})
        for iid in (12, 13):
            mock.get(f"{GL}/projects/{pid}/merge_requests/{iid}/commits").respond(200, json=[
                {"id": SHA_HEAD, "author_name": "Alice", "author_email": "alice@example.com",
                 "committer_name": "Alice", "committer_email": "alice@example.com"}])
        mock.get(f"{GL}/projects/{pid}/pipelines").respond(200, json=[
            {"id": 600, "sha": SHA_MERGE, "ref": "main", "status": "failed"},
            {"id": 601, "sha": SHA_MERGE, "ref": "main", "status": "success"}])
        cfg = GitlabSource(name="gl", base_url="https://gitlab.example.com", token="glpat",
                           projects=["net/policy"])
        stats = await sync_gitlab(cfg, BulkWriter(store), StateStore(store),
                                  sleep=Sleeps(), now=NOW)
    assert stats.indexed == 3 and stats.errors == 0
    dep = (await _docs(store, **{"change.kind": "deployment"}))[0]["change"]
    assert dep["environment"] == "production" and dep["approvers"] == ["alice", "bob"]
    assert dep["independent_approvers"] == ["bob"] and dep["checks_passed"] is True
    mrs = {m["change"]["pull_request"]["number"]: m["change"]
           for m in await _docs(store, **{"change.kind": "pull_request"})}
    assert mrs[12]["independent_approval"] is False  # approved only by its author
    assert mrs[13]["independent_approval"] is True and mrs[13]["checks_passed"] is True
    assert mrs[13]["tickets"] == ["CHG0009999"] and mrs[13]["forge"] == "gitlab"
    # all rules approved, by someone independent
    rules = mrs[13]["approval_rules"]
    assert rules["status"] == "satisfied" and rules["satisfied"] is True
    assert rules["required_rules"] == 2 and rules["unmet"] == []
    assert rules["independent_approvers"] == ["bob"]
    owners = next(r for r in rules["rules"] if r["name"] == "Firewall owners")
    assert owners["eligible_approvers"] == ["bob", "carol"] and owners["satisfied"] is True
    # GitLab's "approved" is kept, but a self-approval does not satisfy the rule here
    self_approved = mrs[12]["approval_rules"]
    assert self_approved["rules"][0]["approved"] is True
    assert self_approved["rules"][0]["satisfied"] is False
    assert self_approved["status"] == "unmet" and self_approved["unmet"] == ["All Members"]


async def test_gitlab_approval_rules_unmet_and_tier_without_rules(store):
    mr = {"state": "merged", "target_branch": "main", "sha": SHA_HEAD,
          "merge_commit_sha": SHA_MERGE, "merged_at": "2026-11-24T10:00:00Z",
          "updated_at": "2026-11-24T10:00:00Z", "author": ALICE, "merge_user": BOB,
          "title": "policy change", "description": ""}
    commit = {"id": SHA_HEAD, "author_name": "Carol", "author_email": "carol@example.com",
              "committer_name": "Alice", "committer_email": "alice@example.com"}
    paid, free = "net%2Fpolicy", "net%2Ffree"
    with respx.mock(assert_all_called=False) as mock:
        _es(mock, store)
        for pid, iids in ((paid, (20,)), (free, (30, 31))):
            mock.get(f"{GL}/projects/{pid}/deployments").respond(200, json=[])
            mock.get(f"{GL}/projects/{pid}/pipelines").respond(200, json=[])
            mock.get(f"{GL}/projects/{pid}/merge_requests").respond(
                200, json=[{**mr, "iid": iid} for iid in iids])
            for iid in iids:
                mock.get(f"{GL}/projects/{pid}/merge_requests/{iid}/approvals").respond(
                    200, json={"approved": True, "approvals_required": 1, "approvals_left": 0,
                               "approved_by": [{"user": BOB}, {"user": CAROL}]})
                mock.get(f"{GL}/projects/{pid}/merge_requests/{iid}/commits").respond(
                    200, json=[commit])
        # one rule unmet: Security needs two approvals and has one; Code owners approved by
        # carol, who wrote the commit, so GitLab says approved but it is not independent
        mock.get(f"{GL}/projects/{paid}/merge_requests/20/approval_state").respond(200, json={
            "approval_rules_overwritten": True, "rules": [
                _gl_rule(5, "Security", "regular", 2, [BOB], [BOB, CAROL], False),
                _gl_rule(6, "Coverage-Check", "report_approver", 0, [], [BOB], True),
                _gl_rule(7, "Code owners", "code_owner", 1, [CAROL], [CAROL], True),
                _gl_rule(8, "Network", "regular", 1, [BOB], [BOB], True)]})
        # a tier without approval rules: 403 (as a 404 would), asked once for the project
        free_state = mock.get(url__regex=rf"{GL}/projects/{free}/merge_requests/\d+/approval_state"
                              ).respond(403, json={"message": "403 Forbidden"})
        cfg = GitlabSource(name="gl-rules", base_url="https://gitlab.example.com", token="glpat",
                           projects=["net/policy", "net/free"])
        stats = await sync_gitlab(cfg, BulkWriter(store), StateStore(store),
                                  sleep=Sleeps(), now=NOW)
    assert stats.errors == 0 and stats.dead_lettered == 0 and free_state.call_count == 1
    mrs = {(m["change"]["repo"], m["change"]["pull_request"]["number"]): m["change"]
           for m in await _docs(store, **{"change.kind": "pull_request",
                                          "monitor.source": "gl-rules"})}
    paid_mr = mrs[("net/policy", 20)]
    assert paid_mr["independent_approval"] is True  # bob approved the MR
    rules = paid_mr["approval_rules"]
    assert rules["status"] == "unmet" and rules["satisfied"] is False
    assert rules["unmet"] == ["Security", "Code owners"] and rules["required_rules"] == 3
    assert rules["overwritten"] is True and rules["independent_approvers"] == ["bob"]
    by_name = {r["name"]: r for r in rules["rules"]}
    assert by_name["Code owners"]["approved"] is True
    assert by_name["Code owners"]["approved_by"] == ["carol"]
    assert by_name["Code owners"]["independent_approvers"] == []  # carol authored the commit
    assert by_name["Coverage-Check"]["approvals_required"] == 0  # optional, never unmet
    for iid in (30, 31):
        unavailable = mrs[("net/free", iid)]["approval_rules"]
        assert unavailable == {"status": "unavailable", "available": False,
                               "reason": "http_403"}
        assert mrs[("net/free", iid)]["independent_approval"] is True  # approvals still read


def _app(history_ids: list[int], phase: str = "Succeeded") -> dict[str, Any]:
    return {"metadata": {"name": "fw-policy", "namespace": "argocd"},
            "spec": {"project": "network",
                     "source": {"repoURL": "https://git.example.com/net/policy.git",
                                "path": "prod", "targetRevision": "main"},
                     "destination": {"server": "https://kubernetes.default.svc",
                                     "namespace": "fw"}},
            "status": {
                "sync": {"status": "Synced", "revision": SHA_DEPLOYED},
                "health": {"status": "Healthy"},
                "operationState": {"phase": phase, "message": "successfully synced",
                                   "startedAt": "2026-11-24T10:00:00Z",
                                   "finishedAt": "2026-11-24T10:01:00Z", "retryCount": 0,
                                   "operation": {"initiatedBy": {"username": "alice"},
                                                 "sync": {"revision": SHA_DEPLOYED}},
                                   "syncResult": {"revision": SHA_DEPLOYED, "resources": []}},
                "history": [{"id": i, "revision": f"{i:040x}",
                             "deployedAt": f"2026-11-{10 + i:02d}T10:00:00Z",
                             "deployStartedAt": f"2026-11-{10 + i:02d}T09:59:00Z",
                             "source": {"repoURL": "https://git.example.com/net/policy.git",
                                        "path": "prod", "targetRevision": "main"},
                             "initiatedBy": {"automated": True}} for i in history_ids]}}


async def sync_argocd(cfg: ArgoCdSource, writer: BulkWriter, state: StateStore,
                      **options: Any):
    """One run of the Argo CD pull source, the way ``monitor ingest git`` runs it."""
    source = ArgoCdPull(cfg, **options)
    try:
        return await ingest_changes([source], "argocd", cfg.name, writer, state)
    finally:
        await source.close()


async def test_argocd_history_operation_and_gap_detection(store):
    cfg = ArgoCdSource(name="argo", base_url="https://argocd.example.com", token="jwt",
                       applications=["fw-policy"])
    writer, state = BulkWriter(store), StateStore(store)
    route_url = "https://argocd.example.com/api/v1/applications/fw-policy"
    with respx.mock(assert_all_called=False) as mock:
        _es(mock, store)
        route = mock.get(route_url).respond(200, json=_app([3, 4, 5]))
        first = await sync_argocd(cfg, writer, state, sleep=Sleeps(), now=NOW)
        assert route.calls.last.request.headers["authorization"] == "Bearer jwt"
        assert first.gaps == 0 and first.indexed == 4  # 3 history entries + the operation
        route.respond(200, json=_app([6, 7, 8]))
        assert (await sync_argocd(cfg, writer, state, sleep=Sleeps(), now=NOW)).gaps == 0
        route.respond(200, json=_app([11, 12, 13], phase="Failed"))  # 9 and 10 were lost
        third = await sync_argocd(cfg, writer, state, sleep=Sleeps(), now=NOW)
    assert third.gaps == 1
    gaps = await _docs(store, **{"change.kind": "history_gap"})
    assert [g["change"]["gap"] for g in gaps] == [{"after_id": 8, "before_id": 11, "missing": 2}]
    syncs = await _docs(store, **{"change.kind": "argocd_sync"})
    ids = sorted(s["change"]["argocd"]["history_id"] for s in syncs
                 if s["change"]["argocd"].get("history_id") is not None)
    assert ids == [3, 4, 5, 6, 7, 8, 11, 12, 13]
    ops = [s["change"] for s in syncs if s["event"]["dataset"] == "argocd.operation"]
    assert sorted(o["phase"] for o in ops) == ["Failed", "Succeeded"]
    assert ops[0]["argocd"]["initiated_by"]["username"] == "alice"
    entry = next(s["change"] for s in syncs if s["change"]["argocd"].get("history_id") == 3)
    assert entry["environment"] == "https://kubernetes.default.svc/fw"
    assert entry["argocd"]["initiated_by"]["automated"] is True


def test_history_gaps():
    assert history_gaps(None, [5, 6, 9]) == [(6, 9)]
    assert history_gaps(4, [5, 6]) == []
    assert history_gaps(4, [7]) == [(4, 7)]


async def test_github_app_installation_token_is_minted_and_reused(store):
    import base64
    import json as _json

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    minted: list[str] = []

    def mint(request: httpx.Request) -> httpx.Response:
        token = request.headers["authorization"].removeprefix("Bearer ")
        header, payload, signature = token.split(".")
        def pad(text: str) -> str:
            return text + "=" * (-len(text) % 4)

        key.public_key().verify(base64.urlsafe_b64decode(pad(signature)),
                                f"{header}.{payload}".encode(), padding.PKCS1v15(),
                                hashes.SHA256())
        claims = _json.loads(base64.urlsafe_b64decode(pad(payload)))
        minted.append(claims["iss"])
        return httpx.Response(201, json={"token": "ghs_installation",
                                         "expires_at": "2999-01-01T00:00:00Z"})

    cfg = GithubSource(name="gh-app", repositories=["acme/policy", "acme/other"],
                       app_id=1234, installation_id=5, private_key=pem, protected_branches=[])
    with respx.mock(assert_all_called=False) as mock:
        _es(mock, store)
        mock.post(f"{GH}/app/installations/5/access_tokens").mock(side_effect=mint)
        deps = mock.get(url__regex=rf"{GH}/repos/acme/\w+/deployments").respond(200, json=[])
        await sync_github(cfg, BulkWriter(store), StateStore(store), sleep=Sleeps(),
                          now=NOW)
    assert minted == ["1234"]  # one token for both repositories
    assert [c.request.headers["authorization"] for c in deps.calls] == \
        ["Bearer ghs_installation"] * 2
    with pytest.raises(ValidationError, match="GitHub App needs"):
        GithubSource(name="x", repositories=["a/b"], app_id=1)  # incomplete App settings


def test_github_app_key_that_is_not_rsa_is_named():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from monitor.sources.forges.github import app_jwt

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    with pytest.raises(TypeError, match="must be RSA"):  # RS256 signs with RSA only
        app_jwt(1234, pem, 1_700_000_000.0)


async def test_malformed_forge_items_are_dead_lettered_not_fatal(store):
    cfg = ArgoCdSource(name="argo-bad", base_url="https://argocd.example.com", token="jwt")
    apps = {"items": [
        "not an object",
        {"metadata": {"name": "broken"}, "status": {"history": [{"id": 1}],
                                                   "operationState": {"operation": "x"}}},
        _app([1, 2]),
    ]}
    with respx.mock(assert_all_called=False) as mock:
        _es(mock, store)
        mock.get("https://argocd.example.com/api/v1/applications").respond(200, json=apps)
        stats = await sync_argocd(cfg, BulkWriter(store), StateStore(store),
                                  sleep=Sleeps(), now=NOW)
    assert stats.errors == 0 and stats.dead_lettered == 2
    # the good application is indexed (two history entries, one operation); nothing
    # half-built from the broken one
    assert stats.indexed == 3 and stats.documents == 3
    await store.es.indices.refresh(index=store.names.deadletter, ignore_unavailable=True)
    letters = await store.es.search(index=store.names.deadletter, size=10)
    reasons = sorted(h["_source"]["deadletter"]["reason"] for h in letters["hits"]["hits"])
    assert reasons[0].startswith("malformed application: AttributeError") and \
        reasons[1].startswith("malformed application: TypeError")
