"""One HTTP client layer for the pull sources (forges, Check Point Management API).

What both need and used to hand-write twice:

* ``build_client(tls, timeout)``: an ``httpx.AsyncClient`` with the TLS policy from the settings
  (verification on, optional CA file and client certificate; ``verify: false`` is explicit and
  logged) and **no redirect following**: a redirect is answered, never obeyed;
* ``Origin`` / ``check_url``: a URL the client did not get from its configuration (a ``Link``
  next page, a redirect target, a URL inside an answer) must keep the configured scheme, host
  and port. A GitLab with a wrong ``external_url`` behind a TLS proxy sends
  ``Link: <http://same-host/...>``: following it would send the token in clear text;
* ``retrying(...)``: the retry loop, tenacity's ``AsyncRetrying``: a call raises ``Retryable``
  (a transient failure; ``wait`` set when the server said how long, e.g. ``Retry-After``) and
  is retried after that wait or ``Backoff``'s exponential delay with jitter (tenacity's
  ``wait_exponential_jitter``), up to ``attempts``; anything else propagates at once;
* ``EtagCache``: a bounded LRU of URL → (ETag, body), one per client instance (a module-global
  cache keyed by source name leaked answers between tests and between reloads);
* ``redact_url``: what may appear in a log line or an error (no userinfo, no query values).
"""
from __future__ import annotations

import logging
import ssl
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.wait import wait_base

from ..errors import SourceError
from ..redact import redact_url
from ..settings import TlsClient
from ..tls import client_context

__all__ = ["Backoff", "DowngradeRefused", "EtagCache", "Origin", "Retryable", "build_client",
           "redact_url", "retrying"]

log = logging.getLogger(__name__)


class DowngradeRefused(SourceError):
    """A URL from an answer would leave the configured origin (scheme, host or port)."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Scheme, host and port of a configured base URL; the only place requests may go."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        default = 443 if scheme == "https" else 80
        return cls(scheme, (parts.hostname or "").lower(), parts.port or default)

    def check_url(self, url: str, what: str = "link") -> str:
        """``url`` if it stays on this origin, else ``DowngradeRefused`` (scheme downgrade,
        other host or port, userinfo)."""
        other = Origin.of(url)
        parts = urlsplit(url)
        if other.scheme != self.scheme:
            raise DowngradeRefused(f"refusing a {what} from {self.scheme}:// to "
                                   f"{other.scheme or '?'}:// ({redact_url(url)})")
        if (other.host, other.port) != (self.host, self.port) or parts.username is not None:
            raise DowngradeRefused(f"refusing a {what} to another host or port "
                                   f"({redact_url(url)})")
        return url


class Backoff:
    """Delay before retry ``attempt`` (0-based): ``initial * 2**attempt`` capped at ``maximum``
    plus up to ``jitter`` seconds (so clients that failed together do not retry together)."""

    def __init__(self, initial: float = 1.0, maximum: float = 60.0, jitter: float = 1.0) -> None:
        self._wait: wait_base = wait_exponential_jitter(multiplier=initial, max=maximum,
                                                        jitter=jitter)

    def delay(self, attempt: int) -> float:
        state = _RetryState(attempt + 1)
        return float(self._wait(state))  # type: ignore[arg-type]  # a minimal stand-in for tenacity RetryCallState


class Retryable(SourceError):
    """A transient failure: retry. ``wait``: seconds the server asked for (else backoff)."""

    def __init__(self, why: str, wait: float | None = None, status: int | None = None) -> None:
        super().__init__(why)
        self.wait = wait
        self.status = status


def retrying(backoff: Backoff, attempts: int, *, sleep: Callable[[float], Awaitable[None]],
             on_retry: Callable[[int, Retryable, float], None]) -> AsyncRetrying:
    """``async for attempt in retrying(...): with attempt: ...``; the last ``Retryable`` is
    re-raised when ``attempts`` are spent. ``on_retry(attempt, error, delay)`` logs/counts."""

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, Retryable) and error.wait is not None:
            return error.wait
        return backoff.delay(state.attempt_number - 1)

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        if isinstance(error, Retryable):
            on_retry(state.attempt_number, error, delay)

    return AsyncRetrying(stop=stop_after_attempt(attempts), wait=wait, sleep=sleep,
                         retry=retry_if_exception_type(Retryable), reraise=True,
                         before_sleep=before_sleep)


@dataclass(slots=True)
class _RetryState:
    """The one field tenacity's wait strategies read."""

    attempt_number: int


class EtagCache:
    """Bounded LRU of full URL → (etag, body). One per client instance."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.items: OrderedDict[str, tuple[str, Any]] = OrderedDict()

    def get(self, url: str) -> tuple[str, Any] | None:
        value = self.items.get(url)
        if value is not None:
            self.items.move_to_end(url)
        return value

    def put(self, url: str, etag: str, body: Any) -> None:
        self.items[url] = (etag, body)
        self.items.move_to_end(url)
        while len(self.items) > self.size:
            self.items.popitem(last=False)


def build_client(tls: TlsClient | None = None, timeout: float = 30.0, *,
                 context: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    """An httpx client honouring ``TlsClient`` (``monitor.tls``: verify on, CA file, client
    certificate) or a ready ``context`` (pinned certificates); redirects are never followed."""
    verify = context if context is not None else client_context(tls, "HTTPS source")
    return httpx.AsyncClient(verify=verify, timeout=timeout, follow_redirects=False)
