"""The daemon's HTTP endpoint: ``/metrics``, ``/healthz``, ``/readyz`` and ``POST /-/reload``.

A deliberately tiny HTTP/1.1 server on ``asyncio.start_server`` (no web framework): GET and
POST only, one request per connection, bounded request size and time. Loopback by default;
optional TLS (certificate + key) and HTTP basic auth (constant-time comparison). When basic
auth is configured it guards every path except ``/healthz``.

* ``/metrics``: the registry in the Prometheus text format (OpenMetrics when asked for).
* ``/healthz``: 200 while the event loop is alive.
* ``/readyz``: 200 or 503 with a JSON body: Elasticsearch reachable, HA role, sources healthy.
* ``POST /-/reload``: the same as SIGHUP; 202 once the reload is requested.

State-changing requests (any POST) are refused (403) unless the ``Host`` header (and an
``Origin``, when sent) names this endpoint: the listen address, a loopback name or one of
``http.allowed_hosts``; and, without basic auth, unless they carry an ``X-Monitor-Request``
header. A browser sends neither a foreign page's POST with that header (it needs a CORS
preflight this server never grants) nor a DNS-rebinding request with our host name, so a web
page open on the monitor's host cannot reload it. ``/readyz`` text passes the redactor.
"""
from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from ..redact import redact
from ..settings import HttpSettings

__all__ = ["MetricsServer", "parse_listen"]

log = logging.getLogger(__name__)

ReadyCheck = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]
_MAX_HEADER_BYTES = 16 * 1024
_READ_TIMEOUT = 10.0
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "localhost.localdomain"})
#: a header a cross-origin page cannot add without a CORS preflight (which is never granted)
REQUEST_HEADER = "X-Monitor-Request"
_REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized",
            403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` → (host, port)."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"http.listen must be host:port, got {listen!r}")
    return host.strip("[]"), int(port)


class MetricsServer:
    def __init__(self, settings: HttpSettings, registry: CollectorRegistry, ready: ReadyCheck,
                 reload: Callable[[], None] | None = None) -> None:
        self._settings = settings
        self._registry = registry
        self._ready = ready
        self._reload = reload
        self._server: asyncio.Server | None = None
        #: state-changing requests refused (Host, Origin, missing header); logged once per 10 s
        self.refused_posts = 0
        self._last_refusal_log = -10.0
        self._auth: bytes | None = None
        if settings.basic_auth is not None:
            token = f"{settings.basic_auth.username}:" \
                    f"{settings.basic_auth.password.get_secret_value()}"
            self._auth = b"Basic " + base64.b64encode(token.encode())

    def _host_allowed(self, value: str) -> bool:
        """``value`` (a Host header or an Origin's netloc) names this endpoint."""
        host = urlsplit(f"//{value.strip()}").hostname if value.strip() else None
        if not host:
            return False
        listen_host, _ = parse_listen(self._settings.listen)
        names = set(_LOOPBACK_NAMES) | {h.lower() for h in self._settings.allowed_hosts}
        if listen_host not in ("", "0.0.0.0", "::"):
            names.add(listen_host.lower())
        return host.lower() in names

    def _refuse_state_change(self, headers: dict[str, str]) -> str | None:
        """Why a POST must be refused (DNS rebinding, CSRF), or None."""
        if not self._host_allowed(headers.get("host", "")):
            return "Host header does not name this endpoint (see http.allowed_hosts)"
        origin = headers.get("origin")
        if origin and (origin == "null" or not self._host_allowed(urlsplit(origin).netloc)):
            return "cross-origin request"
        if self._auth is None and not headers.get(REQUEST_HEADER.lower()):
            return f"a POST needs the {REQUEST_HEADER} header (or basic auth)"
        return None

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); useful with port 0."""
        assert self._server is not None and self._server.sockets
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self._settings.tls_cert_file is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self._settings.tls_cert_file),
                                str(self._settings.tls_key_file or self._settings.tls_cert_file))
        return context

    async def start(self) -> None:
        host, port = parse_listen(self._settings.listen)
        self._server = await asyncio.start_server(self._handle, host, port,
                                                  ssl=self._ssl_context(),
                                                  limit=_MAX_HEADER_BYTES)
        shown_host, shown_port = self.address
        scheme = "https" if self._settings.tls_cert_file else "http"
        log.info("metrics endpoint listening",
                 extra={"fields": {"url": f"{scheme}://{shown_host}:{shown_port}/metrics"}})

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, headers, body = await asyncio.wait_for(self._respond(reader), _READ_TIMEOUT)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            status, headers, body = 400, {"Content-Type": "text/plain"}, b"bad request\n"
        except Exception:
            log.exception("metrics endpoint: internal error")
            status, headers, body = 503, {"Content-Type": "text/plain"}, b"error\n"
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
                f"Content-Length: {len(body)}", "Connection: close",
                *(f"{k}: {v}" for k, v in headers.items())]
        try:
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError, ssl.SSLError):
                pass

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            raise ValueError("bad request line")
        method, target, _ = parts
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        path = target.split("?", 1)[0]
        text = {"Content-Type": "text/plain; charset=utf-8"}
        if path == "/healthz":
            return 200, text, b"ok\n"
        if self._auth is not None:
            given = headers.get("authorization", "").encode("latin-1")
            if not hmac.compare_digest(given, self._auth):
                return 401, {**text, "WWW-Authenticate": 'Basic realm="monitor"'}, \
                    b"unauthorized\n"
        if path == "/metrics":
            if method not in ("GET", "HEAD"):
                return 405, text, b"method not allowed\n"
            encoder, content_type = choose_encoder(headers.get("accept", ""))
            return 200, {"Content-Type": content_type}, encoder(self._registry)
        if method == "POST":
            why = self._refuse_state_change(headers)
            if why is not None:
                self.refused_posts += 1
                now = time.monotonic()
                if now - self._last_refusal_log >= 10:  # a page can retry in a loop
                    self._last_refusal_log = now
                    log.warning("metrics endpoint: refused POST %s: %s (%d refused so far)",
                                path[:100], why, self.refused_posts)
                return 403, text, why.encode() + b"\n"
        if path == "/readyz":
            ok, details = await self._ready()
            body = orjson.dumps({"ready": ok, **details}, default=str).decode()
            return (200 if ok else 503), {"Content-Type": "application/json"}, \
                redact(body).encode() + b"\n"
        if path == "/-/reload":
            if method != "POST":
                return 405, text, b"use POST\n"
            if self._reload is None:
                return 404, text, b"reload not available\n"
            self._reload()
            return 202, text, b"reload requested\n"
        return 404, text, b"not found\n"
