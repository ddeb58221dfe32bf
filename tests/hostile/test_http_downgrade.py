"""The pull clients never carry a token or session off the configured origin: a ``Link`` next
page that downgrades to ``http://`` (a GitLab with a wrong ``external_url`` behind a TLS proxy),
points to another host or port, or a redirect, is refused before any request is sent to it.
respx stands in for the third-party APIs; the assertion is on what was (not) requested."""
from __future__ import annotations

import httpx
import pytest
import respx

from monitor.settings import CheckpointApiSource
from monitor.sources.checkpoint_api import ApiRefused, CheckpointApiClient
from monitor.sources.forges.http import ForgeError, ForgeHttp
from monitor.sources.httpclient import Backoff, DowngradeRefused, Origin, build_client

GL = "https://gitlab.example.test/api/v4"
TOKEN = "glpat-SECRET-token-value"


async def _no_sleep(_: float) -> None:
    return None


@pytest.mark.parametrize("link", [
    "http://gitlab.example.test/api/v4/projects?page=2",       # scheme downgrade, same host
    "https://evil.example.test/api/v4/projects?page=2",        # another host
    "https://gitlab.example.test:8443/api/v4/projects?page=2",  # another port
    "https://user@gitlab.example.test/api/v4/projects?page=2",  # userinfo
    "//evil.example.test/api/v4/projects?page=2",              # scheme-relative
])
async def test_forge_next_page_off_origin_is_refused(link: str) -> None:
    async with build_client() as client:
        http = ForgeHttp("gl", GL, client, headers={"PRIVATE-TOKEN": TOKEN}, sleep=_no_sleep)
        with respx.mock(assert_all_called=False) as mock:
            first = mock.get(f"{GL}/projects").respond(
                200, json=[{"id": 1}], headers={"link": f'<{link}>; rel="next"'})
            elsewhere = mock.route(url__regex=r"^(?!https://gitlab\.example\.test/).*|.*:8443.*"
                                   r"|.*page=2.*").respond(200, json=[{"id": 2}])
            pages = []
            with pytest.raises(ForgeError, match="refusing"):
                async for items in http.pages("/projects"):
                    pages.append(items)
            assert pages == [[{"id": 1}]] and first.call_count == 1
            assert elsewhere.call_count == 0  # the token never left


async def test_forge_redirect_is_not_followed() -> None:
    async with build_client() as client:
        http = ForgeHttp("gl2", GL, client, headers={"PRIVATE-TOKEN": TOKEN}, sleep=_no_sleep)
        with respx.mock(assert_all_called=False) as mock:
            mock.get(f"{GL}/projects").respond(
                301, headers={"location": "http://gitlab.example.test/api/v4/projects"})
            plain = mock.get("http://gitlab.example.test/api/v4/projects").respond(200, json=[])
            with pytest.raises(ForgeError, match="301"):
                await http.get("/projects")
            assert plain.call_count == 0


async def test_checkpoint_api_redirect_is_refused() -> None:
    cfg = CheckpointApiSource(name="m", url="https://mgmt.example.test", api_key="k3y-value")
    async with build_client() as client:
        api = CheckpointApiClient(cfg, client, sleep=_no_sleep)
        with respx.mock(assert_all_called=False) as mock:
            mock.post("https://mgmt.example.test/web_api/login").respond(
                302, headers={"location": "http://mgmt.example.test/web_api/login"})
            plain = mock.post("http://mgmt.example.test/web_api/login").respond(
                200, json={"sid": "s"})
            with pytest.raises(ApiRefused, match="redirect"):
                await api.login()
            assert plain.call_count == 0 and api.sid is None


def test_origin_and_backoff_units() -> None:
    origin = Origin.of("https://GitLab.example.test/api")
    assert origin.check_url("https://gitlab.example.test:443/x") == \
        "https://gitlab.example.test:443/x"
    with pytest.raises(DowngradeRefused) as refused:
        origin.check_url("http://tok:secret@gitlab.example.test/x")
    assert "secret" not in str(refused.value)  # the refusal itself leaks nothing
    delays = [Backoff(initial=1.0, maximum=60.0, jitter=1.0).delay(3) for _ in range(50)]
    assert all(8.0 <= d <= 9.0 for d in delays) and len(set(delays)) > 1  # jittered
    assert Backoff(initial=1.0, maximum=60.0, jitter=1.0).delay(20) <= 60.0


async def test_etag_caches_are_separate_per_source() -> None:
    async with httpx.AsyncClient() as client:
        a = ForgeHttp("src-a", GL, client, sleep=_no_sleep)
        b = ForgeHttp("src-b", GL, client, sleep=_no_sleep)
        assert a.etags is not b.etags
