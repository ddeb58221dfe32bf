"""The daemon's endpoint against a browser on the same host: DNS rebinding (a foreign name in
the Host header) and cross-site POSTs (no custom header, a foreign Origin) cannot reload it;
/readyz never shows a secret, even one typed under a misspelt key."""
from __future__ import annotations

from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from monitor.errors import ConfigError
from monitor.metrics.definitions import Metrics
from monitor.metrics.server import MetricsServer
from monitor.settings import HttpSettings, settings_from_dict


async def _serve(settings: HttpSettings, details: dict[str, Any]) -> Any:
    registry = CollectorRegistry()
    Metrics(registry, "9.9.9")
    reloads: list[int] = []

    async def check() -> Any:
        return True, details

    server = MetricsServer(settings, registry, check, reload=lambda: reloads.append(1))
    await server.start()
    host, port = server.address
    return server, f"http://{host}:{port}", port, reloads


async def test_reload_refuses_rebinding_and_cross_site_posts() -> None:
    server, url, port, reloads = await _serve(
        HttpSettings(listen="127.0.0.1:0", allowed_hosts=["monitor.internal"]), {})
    try:
        async with httpx.AsyncClient() as client:
            post = client.post
            ok = {"X-Monitor-Request": "1"}
            # DNS rebinding: evil.example resolves to 127.0.0.1, the browser sends its name
            assert (await post(f"{url}/-/reload", headers={**ok, "Host": f"evil.example:{port}"})
                    ).status_code == 403
            # a form or fetch without preflight: no custom header
            assert (await post(f"{url}/-/reload", headers={"Content-Type": "text/plain"})
                    ).status_code == 403
            # a page elsewhere that got through anyway: its Origin is foreign
            assert (await post(f"{url}/-/reload",
                               headers={**ok, "Origin": "https://evil.example"})).status_code == 403
            assert (await post(f"{url}/-/reload", headers={**ok, "Origin": "null"})
                    ).status_code == 403
            assert reloads == [] and server.refused_posts == 4
            assert (await post(f"{url}/-/reload", headers=ok)).status_code == 202
            assert (await post(f"{url}/-/reload",
                               headers={**ok, "Host": f"monitor.internal:{port}",
                                        "Origin": f"http://monitor.internal:{port}"})
                    ).status_code == 202
            assert reloads == [1, 1]
    finally:
        await server.stop()


async def test_basic_auth_replaces_the_header_but_not_the_host_check() -> None:
    settings = HttpSettings(listen="127.0.0.1:0",
                            basic_auth={"username": "ops", "password": "reload-secret"})
    server, url, port, reloads = await _serve(settings, {})
    try:
        async with httpx.AsyncClient(auth=("ops", "reload-secret")) as client:
            assert (await client.post(f"{url}/-/reload")).status_code == 202
            assert (await client.post(f"{url}/-/reload", headers={"Host": "evil.example"})
                    ).status_code == 403
            assert reloads == [1]
    finally:
        await server.stop()


async def test_readyz_redacts_reload_errors() -> None:
    try:  # the text a refused reload stores: real settings errors, plus a header in an exception
        settings_from_dict({"elasticsearch": {"pasword": "hunter2-pw"},
                            "sources": {"github": [{"name": "g", "repositories": ["a/b"],
                                                    "base_url": "https://glpat-TOKEN42@gh.example"}]}},
                           "c.yaml")
    except ConfigError as exc:
        error = f"ConfigError: {exc}\nAuthorization: Bearer abc.def.ghi"
    server, url, _, _ = await _serve(HttpSettings(listen="127.0.0.1:0"),
                                     {"last_reload_error": error})
    try:
        async with httpx.AsyncClient() as client:
            body = (await client.get(f"{url}/readyz")).text
    finally:
        await server.stop()
    for secret in ("hunter2-pw", "glpat-TOKEN42", "abc.def.ghi"):
        assert secret not in body, body
    assert "pasword" in body and "base_url" in body  # where the mistakes are stays readable
