"""Configuration snapshots (respx) into the real inventory index, and the API TLS policy
against a real TLS socket with a certificate made in the test."""
from __future__ import annotations

import asyncio
import hashlib
import json
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from monitor.errors import SourceError
from monitor.ingest import ingest_once
from monitor.settings import CheckpointApiSource, TlsClient
from monitor.sources.checkpoint_snapshots import ANY_UID, CheckpointSnapshots
from monitor.sources.checkpoint_tls import ssl_context_for
from monitor.store import BulkWriter
from monitor.store.search import refresh, search

from .certs import make_pki
from .fake_mgmt import BASE, T0

GATEWAYS = {"objects": [
    {"uid": "gw-uid-1", "name": "gw-cde-1", "type": "simple-gateway", "ipv4-address": "10.20.0.1",
     "version": "R81.20", "policy": {"access-policy-installed": True,
                                     "access-policy-name": "Standard",
                                     "access-policy-installation-date": {
                                         "posix": 1772366400000,
                                         "iso-8601": "2026-03-01T12:00+0000"}}},
    {"uid": "mgmt-uid", "name": "mgmt", "type": "CpmiHostCkp"}], "from": 1, "to": 2, "total": 2}


def rulebase(offset: int) -> dict[str, Any]:
    dictionary = [{"uid": ANY_UID, "name": "Any"}, {"uid": "accept-uid", "name": "Accept"},
                  {"uid": "drop-uid", "name": "Drop"}, {"uid": "log-uid", "name": "Log"},
                  {"uid": "web-uid", "name": "web-01"}, {"uid": "https-uid", "name": "https"}]
    if offset == 0:
        rules = [{"type": "access-section", "name": "CDE", "rulebase": [
            {"uid": "r1", "name": "web in", "rule-number": 1, "action": "accept-uid",
             "source": [ANY_UID], "destination": ["web-uid"], "service": ["https-uid"],
             "track": {"type": "log-uid"}, "enabled": True,
             "hits": {"value": 42, "last-date": {"iso-8601": "2026-02-28T10:00+0000"}}}]}]
        return {"rulebase": rules, "objects-dictionary": dictionary, "from": 1, "to": 1, "total": 2}
    return {"rulebase": [{"uid": "r2", "name": "Cleanup rule", "rule-number": 2,
                          "action": "drop-uid", "source": [ANY_UID], "destination": [ANY_UID],
                          "service": [ANY_UID], "track": {"type": "log-uid"}, "enabled": True}],
            "objects-dictionary": dictionary, "from": 2, "to": 2, "total": 2}


async def test_snapshot_writes_gateways_and_rules(store: Any) -> None:
    cfg = CheckpointApiSource(name="mgmt1", url="https://mgmt.example.test", api_key="k")

    def handler(request: httpx.Request) -> httpx.Response:
        command = request.url.path.rsplit("/", 1)[-1]
        data = json.loads(request.content or b"{}")
        if command == "login":
            return httpx.Response(200, json={"sid": "s1", "session-timeout": 600})
        if command == "show-gateways-and-servers":
            return httpx.Response(200, json=GATEWAYS)
        if command == "show-access-rulebase":
            assert data["name"] == "Network" and data["show-hits"] is True
            return httpx.Response(200, json=rulebase(data["offset"]))
        return httpx.Response(200, json={"message": "OK"})

    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()
        mock.post(url__startswith=BASE).mock(side_effect=handler)
        async with httpx.AsyncClient() as client:
            report = await ingest_once(CheckpointSnapshots(cfg, client=client, now=lambda: T0),
                                       BulkWriter(store))
    assert report.counts["gateways"] == 2 and report.counts["rules"] == 2
    assert report.result.indexed == 4
    await refresh(store, ["inventory"])
    found = await search(store, "inventory", {
        "size": 10, "query": {"term": {"inventory.kind": "checkpoint_access_rule"}},
        "sort": [{"inventory.number": "asc"}]})
    rules = [h["_source"]["inventory"] for h in found["hits"]["hits"]]
    assert rules[0]["section"] == "CDE" and rules[0]["action"] == "Accept"
    assert rules[0]["any_source"] is True and rules[0]["any_destination"] is False
    assert rules[0]["destination"] == ["web-01"] and rules[0]["hits"] == 42
    assert rules[1]["any_service"] is True and rules[1]["action"] == "Drop"
    gw = await search(store, "inventory", {"query": {"term": {"inventory.name": "gw-cde-1"}}})
    gateway = gw["hits"]["hits"][0]["_source"]["inventory"]
    assert gateway["access_policy_name"] == "Standard"
    assert gateway["snapshot_id"] == "2026-03-01T12:00:00Z"


async def _tls_server(pki: dict[str, Path]) -> tuple[asyncio.base_events.Server, int]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(pki["server_cert"]), str(pki["server_key"]))

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            body = b'{"sid":"tls-ok"}'
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    return server, server.sockets[0].getsockname()[1]


async def test_pinned_fingerprint_and_ca_bundle(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    server, port = await _tls_server(pki)
    try:
        der = ssl.PEM_cert_to_DER_cert(pki["server_cert"].read_text())
        pin = hashlib.sha256(der).hexdigest().upper()
        pin = ":".join(pin[i:i + 2] for i in range(0, len(pin), 2))
        pinned = await ssl_context_for(TlsClient(fingerprint_sha256=pin), "127.0.0.1", port)
        async with httpx.AsyncClient(verify=pinned) as client:
            answer = await client.post(f"https://127.0.0.1:{port}/web_api/login", json={})
        assert answer.json() == {"sid": "tls-ok"}
        with pytest.raises(SourceError, match="fingerprint mismatch.*" + pin.replace(":", "")
                           .lower()):
            await ssl_context_for(TlsClient(fingerprint_sha256="00" * 32), "127.0.0.1", port)
        bundle = await ssl_context_for(TlsClient(ca_file=pki["ca"]), "127.0.0.1", port)
        async with httpx.AsyncClient(verify=bundle) as client:
            assert (await client.post(f"https://127.0.0.1:{port}/x", json={})).status_code == 200
        system = await ssl_context_for(TlsClient(), "127.0.0.1", port)  # not trusted: refused
        async with httpx.AsyncClient(verify=system) as client:
            with pytest.raises(httpx.ConnectError):
                await client.post(f"https://127.0.0.1:{port}/x", json={})
        with pytest.raises(SourceError, match="cannot be turned off"):
            await ssl_context_for(TlsClient(verify=False), "127.0.0.1", port)
    finally:
        server.close()
        await server.wait_closed()
