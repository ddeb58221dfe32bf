"""The HTTP endpoint: /metrics, /healthz, /readyz, reload, basic auth."""
from __future__ import annotations

import asyncio

import httpx
from prometheus_client import CollectorRegistry

from monitor.metrics.definitions import Metrics
from monitor.metrics.server import MetricsServer
from monitor.settings import HttpSettings


async def _serve(settings: HttpSettings, ready: bool = True):
    registry = CollectorRegistry()
    Metrics(registry, "9.9.9")
    reloads: list[int] = []

    async def check():
        return ready, {"elasticsearch": ready}

    server = MetricsServer(settings, registry, check, reload=lambda: reloads.append(1))
    await server.start()
    host, port = server.address
    return server, f"http://{host}:{port}", reloads


async def test_paths_without_auth() -> None:
    server, url, reloads = await _serve(HttpSettings(listen="127.0.0.1:0"), ready=False)
    try:
        async with httpx.AsyncClient() as client:
            metrics = await client.get(f"{url}/metrics")
            assert metrics.status_code == 200
            assert 'monitor_build_info{python=' in metrics.text
            assert metrics.headers["content-type"].startswith("text/plain")
            assert (await client.get(f"{url}/healthz")).text == "ok\n"
            ready = await client.get(f"{url}/readyz")
            assert ready.status_code == 503 and ready.json()["ready"] is False
            assert (await client.get(f"{url}/-/reload")).status_code == 405
            assert (await client.post(f"{url}/-/reload")).status_code == 403  # no header
            assert (await client.post(f"{url}/-/reload", headers={"X-Monitor-Request": "1"})
                    ).status_code == 202
            assert reloads == [1]
            assert (await client.get(f"{url}/nope")).status_code == 404
    finally:
        await server.stop()


async def test_basic_auth_guards_everything_but_healthz() -> None:
    settings = HttpSettings(listen="127.0.0.1:0",
                            basic_auth={"username": "prom", "password": "scrape-secret"})
    server, url, _ = await _serve(settings)
    try:
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{url}/healthz")).status_code == 200
            denied = await client.get(f"{url}/metrics")
            assert denied.status_code == 401 and "scrape-secret" not in denied.text
            wrong = await client.get(f"{url}/metrics", auth=("prom", "nope"))
            assert wrong.status_code == 401
            ok = await client.get(f"{url}/metrics", auth=("prom", "scrape-secret"))
            assert ok.status_code == 200
            assert (await client.get(f"{url}/readyz", auth=("prom", "scrape-secret"))).json()[
                "ready"] is True
    finally:
        await server.stop()


async def test_garbage_and_slow_clients_do_not_break_the_server() -> None:
    server, url, _ = await _serve(HttpSettings(listen="127.0.0.1:0"))
    host, port = server.address
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"\x00\x01garbage\r\n\r\n")
        await writer.drain()
        assert (await reader.read()).startswith(b"HTTP/1.1 400")
        writer.close()
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{url}/healthz")).status_code == 200
    finally:
        await server.stop()
