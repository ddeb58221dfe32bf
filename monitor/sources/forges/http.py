"""HTTP plumbing shared by the forge clients: pagination, ETags, rate limits, retries.

``ForgeHttp`` wraps one ``httpx.AsyncClient`` (TLS verification on unless the settings turn
it off) and gives the forge modules three calls:

* ``get(path, params)`` → ``Reply(status, data, headers)``; a cached ETag is sent as
  ``If-None-Match`` and a 304 returns the cached body (it costs no GitHub quota);
* ``pages(path, params, key=None)`` → async iterator of item lists, following the ``Link``
  header (``rel="next"``) verbatim, or GitLab's ``x-next-page`` when there is no Link;
* rate limits: a 429, or a 403 that says so (``retry-after``, ``x-ratelimit-remaining: 0``,
  "secondary rate limit"), waits for ``retry-after`` or the reset time (GitHub
  ``x-ratelimit-reset``, GitLab ``RateLimit-Reset``), else backs off exponentially from 60 s;
  a success with ``remaining: 0`` makes the next call wait for the reset. Each wait is one
  warning log line and counts in the instance's ``counters``.

Counters and the ETag cache belong to the ``ForgeHttp`` instance (no module keeps them): they
live as long as the pull source that holds it (the daemon keeps its sources from one run to
the next, so a 304 saves quota across runs), and a fetch reports what it cost as counts of its
batch, which the daemon turns into its job report.

Errors become ``ForgeError`` (a ``SourceError``) with the status; nothing above this module
sees an ``httpx`` exception. Tokens are never logged: only method, path and status are.

TLS, redirect policy, origin checks, backoff and the ETag cache come from the shared layer
(``sources/httpclient.py``): a next-page link that downgrades to ``http://`` or leaves the
configured host or port is refused (the token would follow it), redirects are never followed,
and each ``ForgeHttp`` has its own ETag cache.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import httpx

from ...errors import SourceError
from ..httpclient import Backoff, DowngradeRefused, EtagCache, Origin, Retryable, retrying
from ..httpclient import build_client as _build_client

if TYPE_CHECKING:  # pragma: no cover
    from ...settings import TlsClient

__all__ = [
    "ForgeCounters",
    "ForgeError",
    "ForgeHttp",
    "Reply",
    "build_client",
]

log = logging.getLogger(__name__)

_LINK_RE = re.compile(r'<([^>]*)>\s*;\s*rel="?([^";]+)"?')
_RETRY_STATUSES = frozenset({500, 502, 503, 504})


class ForgeError(SourceError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class ForgeCounters:
    """Running totals of one ``ForgeHttp`` (never reset while it lives)."""

    requests: int = 0
    not_modified: int = 0
    rate_limit_waits: int = 0
    rate_limit_wait_seconds: float = 0.0
    errors: int = 0


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    data: Any
    headers: httpx.Headers
    url: str


def build_client(tls: TlsClient | None = None, timeout: float = 30.0) -> httpx.AsyncClient:
    """An httpx client honouring ``TlsClient`` (the shared layer's; no redirects)."""
    return _build_client(tls, timeout)


class ForgeHttp:
    def __init__(self, source: str, base_url: str, client: httpx.AsyncClient, *,
                 headers: dict[str, str] | None = None,
                 auth: Callable[[], Awaitable[dict[str, str]]] | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.time, max_wait_seconds: float = 3600.0,
                 max_attempts: int = 6) -> None:
        if not base_url.startswith("https://"):
            raise ForgeError(f"{source}: base_url must be https:// (it carries a token)")
        self.source = source
        self.base = base_url.rstrip("/") + "/"
        self.client = client
        self.headers = dict(headers or {})
        self.auth = auth
        self.sleep = sleep
        self.clock = clock
        self.max_wait = max_wait_seconds
        self.max_attempts = max_attempts
        self.counters = ForgeCounters()
        # the cache lives as long as this client: the pull source keeps it across runs (the
        # 304s it earns are what keeps GitHub's quota); never shared, the token scope is ours
        self.etags = EtagCache()
        self.backoff = Backoff(initial=0.5, maximum=30.0, jitter=0.5)
        self._blocked_until = 0.0
        #: status of the last answer (304 when the cached body was returned)
        self.last_status = 0
        self.origin = Origin.of(self.base)

    def url(self, path: str) -> str:
        """A configured path, or an absolute URL from an answer (a ``Link`` next page) that
        must stay on the configured origin: no ``http://`` downgrade, no other host or port."""
        if "://" in path[:16] or path.startswith("//"):
            try:
                return self.origin.check_url(path)
            except DowngradeRefused as exc:
                self.counters.errors += 1
                raise ForgeError(f"{self.source}: {exc}") from None
        return urljoin(self.base, path.lstrip("/"))

    async def get(self, path: str, params: dict[str, Any] | None = None, *,
                  ok: tuple[int, ...] = (200,), etag: bool = True) -> Reply:
        return await self.request("GET", path, params=params, ok=ok, etag=etag)

    async def post(self, path: str, json: Any = None, *, ok: tuple[int, ...] = (200, 201),
                   headers: dict[str, str] | None = None) -> Reply:
        return await self.request("POST", path, json=json, ok=ok, etag=False, headers=headers)

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                      json: Any = None, ok: tuple[int, ...] = (200,), etag: bool = True,
                      headers: dict[str, str] | None = None) -> Reply:
        """One call through the shared retry loop (``httpclient.retrying``): connection errors
        and 5xx back off with jitter, rate limits wait what the server asked for."""
        url = self.url(path)
        key = str(self.client.build_request(method, url, params=params, json=json).url)

        def on_retry(attempt: int, error: Retryable, delay: float) -> None:
            if error.wait is not None:
                self.counters.rate_limit_waits += 1
                self.counters.rate_limit_wait_seconds += delay
                log.warning("%s: %s on %s %s; waiting %.0fs", self.source, error, method,
                            _path(key), delay)
            else:
                log.warning("%s: %s; retry in %.1fs", self.source, error, delay)

        try:
            async for attempt in retrying(self.backoff, self.max_attempts, sleep=self.sleep,
                                          on_retry=on_retry):
                with attempt:
                    return await self._attempt(method, url, key, attempt.retry_state.attempt_number - 1,
                                               params=params, json=json, ok=ok, etag=etag,
                                               headers=headers)
        except Retryable as exc:
            self.counters.errors += 1
            raise ForgeError(f"{self.source}: {method} {_path(key)}: {exc}", exc.status) from None
        raise AssertionError("unreachable: the retry loop returns or raises")

    async def _attempt(self, method: str, url: str, key: str, attempt: int, *,
                       params: dict[str, Any] | None, json: Any, ok: tuple[int, ...],
                       etag: bool, headers: dict[str, str] | None) -> Reply:
        await self._wait_blocked()
        send_headers = dict(self.headers)
        if self.auth is not None and headers is None:
            send_headers.update(await self.auth())
        send_headers.update(headers or {})
        cached = self.etags.get(key) if etag and method == "GET" else None
        if cached:
            send_headers["If-None-Match"] = cached[0]
        request = self.client.build_request(method, url, params=params, json=json,
                                            headers=send_headers)
        self.counters.requests += 1
        try:
            response = await self.client.send(request)
        except httpx.HTTPError as exc:
            raise Retryable(type(exc).__name__) from None
        self._note_quota(response)
        status = response.status_code
        self.last_status = status
        if status == 304 and cached:
            self.counters.not_modified += 1
            return Reply(304, cached[1], response.headers, key)
        wait = self._rate_limit_wait(response, attempt)
        if wait is not None:
            why = f"rate limited ({status}); would wait {wait:.0f}s"
            if wait > self.max_wait:
                self.counters.errors += 1
                raise ForgeError(f"{self.source}: {method} {_path(key)}: {why}", status)
            raise Retryable(why, wait=wait, status=status)
        if status in _RETRY_STATUSES:
            raise Retryable(f"answered {status}: {_message(response)}", status=status)
        if status not in ok:
            self.counters.errors += 1
            raise ForgeError(f"{self.source}: {method} {_path(key)} answered {status}: "
                             f"{_message(response)}", status)
        data = _json(response) if status != 204 else None
        tag = response.headers.get("etag")
        if etag and method == "GET" and tag and status == 200:
            self.etags.put(key, tag, data)
        return Reply(status, data, response.headers, key)

    async def pages(self, path: str, params: dict[str, Any] | None = None, *,
                    key: str | None = None, max_pages: int = 100
                    ) -> AsyncGenerator[list[Any], None]:
        """Item lists page by page (``key`` picks the list out of an object body); a generator,
        so a caller that stops early can close it (``contextlib.aclosing``)."""
        url: str | None = path
        query = params
        for _ in range(max_pages):
            if url is None:
                return
            reply = await self.get(url, query)
            data = reply.data
            items = data.get(key, []) if key and isinstance(data, dict) else data
            yield list(items) if isinstance(items, list) else []
            url, query = _next_link(reply), None
        log.warning("%s: stopped after %d pages of %s", self.source, max_pages, _path(path))

    async def _wait_blocked(self) -> None:
        now = self.clock()
        if self._blocked_until > now:
            wait = self._blocked_until - now
            if wait > self.max_wait:
                raise ForgeError(f"{self.source}: quota exhausted for {wait:.0f}s")
            self.counters.rate_limit_waits += 1
            self.counters.rate_limit_wait_seconds += wait
            log.warning("%s: primary rate limit exhausted; waiting %.0fs for the reset",
                        self.source, wait)
            await self.sleep(wait)
            self._blocked_until = 0.0

    def _note_quota(self, response: httpx.Response) -> None:
        remaining = response.headers.get("x-ratelimit-remaining") or \
            response.headers.get("ratelimit-remaining")
        if remaining == "0" and response.status_code < 400:
            reset = _reset_at(response.headers)
            if reset:
                self._blocked_until = reset + 1

    def _rate_limit_wait(self, response: httpx.Response, attempt: int) -> float | None:
        status = response.status_code
        if status not in (403, 429):
            return None
        headers = response.headers
        retry_after: str | None = headers.get("retry-after")
        remaining: str | None = headers.get("x-ratelimit-remaining") or \
            headers.get("ratelimit-remaining")
        text = response.text[:2000].lower() if status == 403 else ""
        if status == 403 and retry_after is None and remaining != "0" and \
                "rate limit" not in text:
            return None  # an ordinary permission error
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                pass
        reset = _reset_at(headers)
        if remaining == "0" and reset:
            return max(0.0, reset - self.clock()) + 1
        return min(self.max_wait, 60.0 * (2.0 ** attempt))  # a float power: int ** int is Any


def _reset_at(headers: httpx.Headers) -> float | None:
    value: str | None = headers.get("x-ratelimit-reset") or headers.get("ratelimit-reset")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _next_link(reply: Reply) -> str | None:
    link = reply.headers.get("link")
    if link:
        for match in _LINK_RE.finditer(link):
            target, rel = match.group(1, 2)
            if "next" in rel.split():
                return target
        return None
    nxt = reply.headers.get("x-next-page")
    if nxt and nxt.isdigit():
        parts = httpx.URL(reply.url)
        return str(parts.copy_merge_params({"page": nxt}))
    return None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ForgeError(f"answer from {_path(str(response.request.url))} is not JSON",
                         response.status_code) from None


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or "")[:300]
    return ""


def _path(url: str) -> str:
    return urlsplit(url).path[:300]
