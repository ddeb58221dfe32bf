"""Check Point Management API collector (``show-logs``), async over httpx.

Entry points for the daemon:

* ``CheckpointApiCollector(cfg, writer, state, client=None)`` keeps one API session between runs
  (R81+ allows 3 logins per admin per minute), ``await collector.pull_once() -> PullStats``
  pulls every configured log type once, ``await collector.close()`` logs out.
* ``await pull_once(cfg, writer, state, client=None) -> PullStats``: one-shot convenience
  (logs in, pulls, logs out).

Cursor (``StateStore`` key ``checkpoint-api:<name>:<type>``): ``{"done_until": ISO}`` after a
window completed, plus ``{"window": [start, end]}`` while one is in progress. A window is
``[done_until - overlap, now]``; pages are written and acknowledged by the ``BulkWriter`` before
the cursor moves, and an interrupted window is re-run whole on restart. Ids are stable
(``loguid``/``id`` + sequence), so overlap and re-runs come back as 409 duplicates: no gap, no
duplicate document.

Errors: expired/wrong session → re-login (rate limited) and re-run the window; 429 and
``err_too_many_requests`` / 5xx / timeouts / truncated JSON → exponential backoff, then
``SourceError`` (cursor untouched); ``err_login_failed*`` → ``SourceError`` at once.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from ..errors import ConflictError, SourceError
from ..model import DeadLetter, Document, RawRecord
from ..normalize import normalize_api_log
from ..settings import CheckpointApiSource
from ..store.state import StateStore
from ..store.writer import BulkWriter
from ..timefmt import iso_s
from .checkpoint_tls import ssl_context_for
from .httpclient import Backoff, Origin, Retryable, build_client, retrying

__all__ = [
    "CheckpointApiClient",
    "CheckpointApiCollector",
    "PullStats",
    "build_http_client",
    "cursor_key",
    "pull_once",
]

log = logging.getLogger(__name__)

_SESSION_CODES = frozenset({"generic_err_session_expired", "generic_err_wrong_session_id",
                            "generic_err_missing_session_id"})
_BUSY_CODES = frozenset({"err_too_many_requests", "generic_server_initializing",
                         "generic_internal_error", "generic_server_error"})
_LOGINS_PER_MINUTE = 3
_MAX_PAGES = 100_000


_iso = iso_s


def cursor_key(cfg: CheckpointApiSource, log_type: str) -> str:
    return f"checkpoint-api:{cfg.name}:{log_type}"


@dataclass(slots=True)
class PullStats:
    requests: int = 0
    pages: int = 0
    logs: int = 0
    indexed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    logins: int = 0
    retries: int = 0
    windows: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _SessionLost(Exception):
    """The sid is no longer valid: log in again and restart the query."""


class ApiRefused(SourceError):
    """The API refused a call in a way retrying the same call will not fix; ``code`` is
    Check Point's error code (``generic_err_invalid_parameter``, ...)."""

    def __init__(self, message: str, code: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


async def build_http_client(cfg: CheckpointApiSource) -> httpx.AsyncClient:
    """httpx client with the TLS policy of ``cfg.tls`` (CA bundle or pinned certificate)."""
    parts = urlsplit(cfg.url)
    context = await ssl_context_for(cfg.tls, parts.hostname or "", parts.port or 443)
    return build_client(timeout=cfg.timeout_seconds, context=context)  # redirects not followed


class CheckpointApiClient:
    """``login`` / ``call`` / ``keepalive`` / ``logout`` with backoff and session recovery."""

    def __init__(self, cfg: CheckpointApiSource, client: httpx.AsyncClient, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 monotonic: Callable[[], float] = time.monotonic, max_attempts: int = 6,
                 stats: PullStats | None = None) -> None:
        self.cfg = cfg
        self.http = client
        self.sleep = sleep
        self.monotonic = monotonic
        self.max_attempts = max_attempts
        self.stats = stats or PullStats()
        base = cfg.url.rstrip("/")
        self.base = base if base.endswith("/web_api") else base + "/web_api"
        #: every request goes to the configured origin; an answer's redirect (3xx) is refused,
        #: never followed (the session id and credentials would go with it)
        self.origin = Origin.of(self.base)
        self.backoff = Backoff(initial=1.0, maximum=60.0, jitter=0.5)
        self.sid: str | None = None
        self.session_timeout = 600.0
        self.last_call = 0.0
        self._logins: deque[float] = deque(maxlen=_LOGINS_PER_MINUTE)

    async def login(self) -> None:
        now = self.monotonic()
        if len(self._logins) == _LOGINS_PER_MINUTE and now - self._logins[0] < 60:
            wait = 60 - (now - self._logins[0]) + 0.5
            log.warning("checkpoint api %s: login rate limit (3/min), waiting %.0fs",
                        self.cfg.name, wait)
            await self.sleep(wait)
        body: dict[str, Any] = {"read-only": True, "session-name": "pci-monitor",
                                "session-description": "log collection (read-only)"}
        if self.cfg.api_key is not None:
            body["api-key"] = self.cfg.api_key.get_secret_value()
        else:
            body["user"] = self.cfg.username
            body["password"] = self.cfg.password.get_secret_value() if self.cfg.password else ""
        if self.cfg.domain:
            body["domain"] = self.cfg.domain
        self._logins.append(self.monotonic())
        answer = await self._post("login", body, authenticated=False)
        sid = answer.get("sid")
        if not isinstance(sid, str) or not sid:
            raise SourceError(f"checkpoint api {self.cfg.name}: login answer has no sid")
        self.sid = sid
        try:
            self.session_timeout = float(answer.get("session-timeout", 600))
        except (TypeError, ValueError):
            self.session_timeout = 600.0
        self.stats.logins += 1
        log.info("checkpoint api %s: logged in (api %s)", self.cfg.name,
                 answer.get("api-server-version", "?"))

    async def call(self, command: str, body: dict[str, Any]) -> dict[str, Any]:
        """Call with the current session (logging in first if needed); keepalive when idle."""
        if self.sid is None:
            await self.login()
        elif self.monotonic() - self.last_call > self.session_timeout / 2:
            try:
                await self._post("keepalive", {}, authenticated=True)
            except _SessionLost:
                self.sid = None
                await self.login()
        return await self._post(command, body, authenticated=True)

    async def logout(self) -> None:
        if self.sid is None:
            return
        try:
            await self._post("logout", {}, authenticated=True, attempts=1)
        except (SourceError, _SessionLost) as exc:
            log.info("checkpoint api %s: logout failed (%s); session will expire",
                     self.cfg.name, exc)
        self.sid = None

    async def _post(self, command: str, body: dict[str, Any], *, authenticated: bool,
                    attempts: int | None = None) -> dict[str, Any]:
        """One API call, retried (shared layer, tenacity) on timeouts, connection errors,
        "busy" answers, 5xx and truncated JSON; session loss and refusals propagate at once."""
        limit = attempts or self.max_attempts

        def on_retry(attempt: int, error: Retryable, delay: float) -> None:
            self.stats.retries += 1
            log.warning("checkpoint api %s: %s failed: %s; retry in %.0fs", self.cfg.name,
                        command, error, delay)

        try:
            async for attempt in retrying(self.backoff, limit, sleep=self.sleep,
                                          on_retry=on_retry):
                with attempt:
                    return await self._post_once(command, body, authenticated)
        except Retryable as exc:
            raise SourceError(f"checkpoint api {self.cfg.name}: {command} failed after "
                              f"{limit} attempts: {exc}") from None
        raise AssertionError("unreachable: the retry loop returns or raises")

    async def _post_once(self, command: str, body: dict[str, Any],
                         authenticated: bool) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if authenticated:
            if self.sid is None:
                raise _SessionLost("no session")
            headers["X-chkp-sid"] = self.sid
        self.stats.requests += 1
        try:
            response = await self.http.post(self.origin.check_url(f"{self.base}/{command}"),
                                            content=orjson.dumps(body), headers=headers)
        except httpx.TimeoutException as exc:
            raise Retryable(f"timeout ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise Retryable(f"connection failed ({type(exc).__name__}: {exc})") from None
        self.last_call = self.monotonic()
        outcome = self._interpret(command, response)
        if isinstance(outcome, dict):
            return outcome
        raise Retryable(outcome)

    def _interpret(self, command: str, response: httpx.Response) -> dict[str, Any] | str:
        """A dict on success, a retryable reason string, or raise."""
        try:
            data = orjson.loads(response.content) if response.content else {}
        except orjson.JSONDecodeError:
            if response.status_code == 200:
                return f"truncated or invalid JSON ({len(response.content)} bytes)"
            data = {}
        if not isinstance(data, dict):
            return "answer is not a JSON object"
        code = str(data.get("code", ""))
        message = str(data.get("message", ""))[:300]
        status = response.status_code
        if status == 200 and not code:
            return data
        if code in _SESSION_CODES or (status == 401 and command not in ("login",)
                                      and "session" in message.lower() + code):
            raise _SessionLost(code or message)
        if command == "login" and (code.startswith("err_login_failed") or status in (401, 403)):
            if code == "err_too_many_requests" or "too many requests" in message.lower():
                return f"login rate limited: {message}"
            raise SourceError(f"checkpoint api {self.cfg.name}: login refused ({code or status}):"
                              f" {message}")
        if status == 429 or code in _BUSY_CODES or "too many requests" in message.lower():
            return f"busy ({status} {code}): {message}"
        if status >= 500:
            return f"server error {status} {code}: {message}"
        if 300 <= status < 400:
            raise ApiRefused(f"checkpoint api {self.cfg.name}: {command} answered a redirect "
                             f"({status}); refusing to follow it", code, status)
        raise ApiRefused(f"checkpoint api {self.cfg.name}: {command} refused ({status} "
                         f"{code}): {message}", code, status)


class CheckpointApiCollector:
    """Pulls ``show-logs`` windows into the store; keeps its session between runs."""

    def __init__(self, cfg: CheckpointApiSource, writer: BulkWriter, state: StateStore, *,
                 client: httpx.AsyncClient | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 monotonic: Callable[[], float] = time.monotonic,
                 keep_original: bool = True) -> None:
        self.cfg = cfg
        self.writer = writer
        self.state = state
        self._client = client
        self._owns_client = client is None
        self.now = now
        self.sleep = sleep
        self.monotonic = monotonic
        self.keep_original = keep_original
        self.api: CheckpointApiClient | None = None
        self.last_event_time: str | None = None

    async def _api(self, stats: PullStats) -> CheckpointApiClient:
        if self.api is None:
            if self._client is None:
                self._client = await build_http_client(self.cfg)
            self.api = CheckpointApiClient(self.cfg, self._client, sleep=self.sleep,
                                           monotonic=self.monotonic)
        self.api.stats = stats
        return self.api

    async def close(self) -> None:
        if self.api is not None:
            await self.api.logout()
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None
        self.api = None

    async def pull_once(self) -> PullStats:
        stats = PullStats()
        api = await self._api(stats)
        for log_type in self.cfg.log_types:
            await self._pull_type(api, log_type, stats)
        return stats

    async def _pull_type(self, api: CheckpointApiClient, log_type: str, stats: PullStats) -> None:
        key = cursor_key(self.cfg, log_type)
        current = await self.state.get(key)
        value = dict(current.value) if current else {}
        if value.get("window"):
            start_text, end_text = value["window"]  # interrupted run: redo that window whole
        else:
            end = self.now()
            done = value.get("done_until")
            if done:
                start = datetime.fromisoformat(done.replace("Z", "+00:00")) - timedelta(
                    seconds=self.cfg.overlap_seconds)
            else:
                start = end - timedelta(seconds=self.cfg.initial_lookback_seconds)
            start_text, end_text = _iso(start), _iso(end)
            value["window"] = [start_text, end_text]
            current = await self._save(key, value, current)
        stats.windows[log_type] = [start_text, end_text]
        for _attempt in range(3):
            try:
                await self._run_window(api, log_type, start_text, end_text, stats)
                break
            except _SessionLost as exc:
                log.warning("checkpoint api %s: session or query lost while paging (%s); "
                            "re-running the window", self.cfg.name, exc)
                if "query-id" not in str(exc):
                    api.sid = None
        else:
            raise SourceError(f"checkpoint api {self.cfg.name}: session keeps expiring")
        value = {"done_until": end_text}
        if self.last_event_time:
            value["last_event_time"] = self.last_event_time
        await self._save(key, value, current)

    async def _save(self, key: str, value: dict[str, Any], expected: Any) -> Any:
        try:
            return await self.state.put(key, value, expected)
        except ConflictError:
            return await self.state.update(key, value)

    async def _run_window(self, api: CheckpointApiClient, log_type: str, start: str, end: str,
                          stats: PullStats) -> None:
        query: dict[str, Any] = {"time-frame": "custom", "custom-start": start,
                                 "custom-end": end, "type": log_type,
                                 "max-logs-per-request": self.cfg.max_logs_per_request}
        if self.cfg.filter:
            query["filter"] = self.cfg.filter
        if self.cfg.log_servers:
            query["log-servers"] = list(self.cfg.log_servers)
        answer = await api.call("show-logs", {"new-query": query})
        previous_ids: tuple[str, ...] = ()
        for _page in range(_MAX_PAGES):
            logs = answer.get("logs") or []
            if not isinstance(logs, list) or not logs:
                return
            ids = tuple(str(item.get("id")) for item in logs if isinstance(item, dict))
            if ids and ids == previous_ids:
                log.warning("checkpoint api %s: server repeated a page; stopping the window",
                            self.cfg.name)
                return
            previous_ids = ids
            stats.pages += 1
            stats.logs += len(logs)
            await self._write(logs, log_type, stats)
            query_id = answer.get("query-id")
            if not query_id:
                return
            try:
                answer = await api.call("show-logs", {"query-id": query_id})
            except ApiRefused as exc:
                if exc.code != "generic_err_invalid_parameter":
                    raise
                # query-ids are short-lived (UNVERIFIED lifetime): run the window again
                raise _SessionLost(f"query-id no longer valid: {exc}") from exc
        log.error("checkpoint api %s: more than %d pages in one window", self.cfg.name,
                  _MAX_PAGES)

    async def _write(self, logs: list[Any], log_type: str, stats: PullStats) -> None:
        received = self.now()
        source = f"checkpoint:api:{self.cfg.name}"
        items: list[Document | DeadLetter] = []
        for item in logs:
            payload = orjson.dumps(item) if item is not None else b"null"
            raw = RawRecord(source, payload, received)
            if not isinstance(item, dict):
                items.append(DeadLetter(source, payload, "API log entry is not an object",
                                        received_at=received))
                continue
            if log_type == "audit":
                item = {**item, "type": item.get("type", "Audit")}
            result = normalize_api_log(item, raw, self.keep_original)
            if isinstance(result, Document):
                stamp = result.source.get("@timestamp")
                if stamp and (self.last_event_time is None or stamp > self.last_event_time):
                    self.last_event_time = stamp
            items.append(result)
        result = await self.writer.write(items, label=f"checkpoint-api-{log_type}",
                                         check_time=True)
        stats.indexed += result.indexed
        stats.duplicates += result.duplicates
        stats.dead_lettered += result.dead_lettered


async def pull_once(cfg: CheckpointApiSource, writer: BulkWriter, state: StateStore,
                    client: httpx.AsyncClient | None = None, **options: Any) -> PullStats:
    """Log in, pull every configured log type once, log out."""
    collector = CheckpointApiCollector(cfg, writer, state, client=client, **options)
    try:
        return await collector.pull_once()
    finally:
        await collector.close()
