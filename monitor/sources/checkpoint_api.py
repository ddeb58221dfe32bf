"""Check Point Management API (``show-logs``) as pull sources, async over httpx.

A pull source (``sources/base.py``) per configured API source and log type, which the daemon
drives with the one ingest pipeline (``monitor/ingest.py``)::

    sources = checkpoint_api_sources(cfg)    # one per cfg.log_types, one shared session
    for source in sources:
        report = await ingest_once(source, writer, state, close=False)  # one page
        ...                                  # again while source.more and the cursor moves
    await sources[0].close()                 # logout (once, for all of them)

The sources of one configured API source share one :class:`CheckpointApiConnection`: one
``CheckpointApiClient`` session kept from one run to the next (R81+ allows 3 logins per admin
per minute), so callers pass ``close=False`` to ``ingest_once`` and close the sources when they
stop. A source never writes and never moves its cursor: ``fetch`` reads one page and says where
to continue, ``normalize`` (pure) turns one log entry into a document or a dead letter, and the
pipeline writes the page and only then commits the cursor (compare-and-set).

Cursor (``StateStore`` key ``checkpoint-api:<name>:<type>``, the key and layout of the
collector this replaced, whose cursors read the same): ``{"done_until": ISO, "last_event_time":
ISO}`` when idle, plus ``{"window": [start, end], "query_id": ..., "pages": n}`` while a window
is in progress. A fetch with no window in progress opens ``[done_until - overlap, now]`` (a
first one reaches ``initial_lookback_seconds`` back) with ``show-logs new-query`` and returns
its first page; the cursor then moves after every page written (``query_id`` and the page count
``pages``, so it moves even when the server keeps one query-id), and to ``{"done_until": end}``
with the page that ends the window (an empty page, one without a ``query-id``, a page that
repeats the previous one, or the ``_MAX_PAGES``-th). ``last_event_time`` is the newest event
``time`` read so far.

The stored ``query_id`` is followed only by the source that returned that cursor, when it is
handed back unchanged to its next fetch (the pipeline committed it, so the page before was
written). A window without a ``query_id`` (the old layout), a restart, a fetch that failed (the
server may have served the page), a write that failed after the server served its page, or a
cursor another instance moved: the window is re-run from its start (the server's query may be past a page that was
never written). Ids are stable (``loguid``/``id`` + sequence), so overlap and re-runs come back
as 409 duplicates: no gap, no duplicate document.

Errors: an expired/wrong session or a ``query-id`` the server no longer knows → re-login when
the session is gone (rate limited) and re-run the window from its start, at most 3 times per
window, then ``SourceError``; 429 and ``err_too_many_requests`` / 5xx / timeouts / truncated
JSON → exponential backoff, then ``SourceError``, except on a ``query-id`` page: the server
pages forward, so a page whose answer was lost may have been served and is never asked for
again with the same id; the window is re-run instead. ``err_login_failed*`` → ``SourceError``
at once. A ``SourceError`` leaves the cursor where it was (the pipeline commits nothing).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from ..errors import SourceError
from ..model import DeadLetter, Document, RawRecord
from ..normalize import normalize_api_log
from ..normalize.checkpoint_ecs import event_time
from ..settings import CheckpointApiSource
from ..timefmt import iso_s
from .base import Batch
from .checkpoint_tls import ssl_context_for
from .httpclient import Backoff, Origin, Retryable, build_client, retrying

__all__ = [
    "ApiCounters",
    "ApiLog",
    "ApiRefused",
    "CheckpointApiClient",
    "CheckpointApiConnection",
    "CheckpointApiLogs",
    "build_http_client",
    "checkpoint_api_sources",
    "cursor_key",
]

log = logging.getLogger(__name__)

_SESSION_CODES = frozenset({"generic_err_session_expired", "generic_err_wrong_session_id",
                            "generic_err_missing_session_id"})
_BUSY_CODES = frozenset({"err_too_many_requests", "generic_server_initializing",
                         "generic_internal_error", "generic_server_error"})
_LOGINS_PER_MINUTE = 3
#: pages one window reads at most; past it the window is closed (logged as an error)
_MAX_PAGES = 100_000
#: session or query losses one window survives (each re-runs it from its start)
_WINDOW_ATTEMPTS = 3


_iso = iso_s


def cursor_key(cfg: CheckpointApiSource, log_type: str) -> str:
    return f"checkpoint-api:{cfg.name}:{log_type}"


@dataclass(slots=True)
class ApiCounters:
    """What the client did since it was made: requests sent, logins, retried calls."""

    requests: int = 0
    logins: int = 0
    retries: int = 0

    def as_dict(self) -> dict[str, int]:
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
                 monotonic: Callable[[], float] = time.monotonic,
                 max_attempts: int = 6) -> None:
        self.cfg = cfg
        self.http = client
        self.sleep = sleep
        self.monotonic = monotonic
        self.max_attempts = max_attempts
        self.counters = ApiCounters()
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
        self.counters.logins += 1
        log.info("checkpoint api %s: logged in (api %s)", self.cfg.name,
                 answer.get("api-server-version", "?"))

    async def call(self, command: str, body: dict[str, Any], *,
                   attempts: int | None = None) -> dict[str, Any]:
        """Call with the current session (logging in first if needed); keepalive when idle.
        ``attempts=1`` for a call that must not be repeated as is (a query-id page)."""
        if self.sid is None:
            await self.login()
        elif self.monotonic() - self.last_call > self.session_timeout / 2:
            try:
                await self._post("keepalive", {}, authenticated=True)
            except _SessionLost:
                self.sid = None
                await self.login()
        return await self._post(command, body, authenticated=True, attempts=attempts)

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
            self.counters.retries += 1
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
        self.counters.requests += 1
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


class CheckpointApiConnection:
    """What the sources of one configured API source share and keep from one run to the
    next: the HTTP client (built on first use with the TLS policy of ``cfg.tls``; closed by
    :meth:`close` unless it was handed in) and the ``CheckpointApiClient`` session over it."""

    def __init__(self, cfg: CheckpointApiSource, client: httpx.AsyncClient | None = None, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self._given = client
        self._owned: httpx.AsyncClient | None = None
        self.sleep = sleep
        self.monotonic = monotonic
        self._api: CheckpointApiClient | None = None

    async def api(self) -> CheckpointApiClient:
        if self._api is None:
            client = self._given
            if client is None:
                client = self._owned = await build_http_client(self.cfg)
            self._api = CheckpointApiClient(self.cfg, client, sleep=self.sleep,
                                            monotonic=self.monotonic)
        return self._api

    async def close(self) -> None:
        """Log out and close our own client; harmless to call again (every source of the
        connection closes it). A next run logs in again."""
        api, self._api = self._api, None
        try:
            if api is not None:
                await api.logout()
        finally:
            owned, self._owned = self._owned, None
            if owned is not None:
                await owned.aclose()


@dataclass(frozen=True, slots=True)
class ApiLog:
    """One ``show-logs`` entry as read: its log type and when this page was received."""

    log_type: str
    entry: Any
    received_at: datetime


class CheckpointApiLogs:
    """One log type of one configured API source as a pull source; one page per ``fetch``
    (see the module doc for the cursor). ``more`` is true while the window has pages left;
    ``window`` is the ``[start, end]`` the last fetch read from."""

    check_time = True  # times come from the management server: screened before they choose an index

    def __init__(self, cfg: CheckpointApiSource, log_type: str,
                 connection: CheckpointApiConnection, *,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 keep_original: bool = True) -> None:
        self.cfg, self.log_type, self.connection = cfg, log_type, connection
        self.name = cursor_key(cfg, log_type)
        self.cursor_key = cursor_key(cfg, log_type)
        self.source = f"checkpoint:api:{cfg.name}"
        self.now = now
        self.keep_original = keep_original
        self.more = False
        self.window: tuple[str, str] | None = None
        #: the cursor the last fetch returned (its query is followed only from there)
        self._issued: dict[str, Any] | None = None
        # the window being paged: ids of the last page, session or query losses survived
        self._previous_ids: tuple[str, ...] = ()
        self._losses = 0

    async def fetch(self, cursor: dict[str, Any] | None) -> Batch[ApiLog]:
        self.more = False
        value = dict(cursor or {})
        window = _window(value.get("window"))
        # the stored query is followed only from the cursor this source's last fetch returned,
        # which the pipeline committed after writing its page; otherwise (a restart, a failed
        # fetch or write, another instance's move) the server's query may be past a page that
        # was never written, so the window is re-run from its start
        issued, self._issued = self._issued, None
        query_id = value.get("query_id") if window is not None and value == issued else None
        if window is None:
            end = self.now()
            done = value.get("done_until")
            if done:
                start = datetime.fromisoformat(str(done).replace("Z", "+00:00")) - timedelta(
                    seconds=self.cfg.overlap_seconds)
            else:
                start = end - timedelta(seconds=self.cfg.initial_lookback_seconds)
            window = (_iso(start), _iso(end))
        if window != self.window:
            self.window, self._losses = window, 0
        api = await self.connection.api()
        before = replace(api.counters)
        answer, continued = await self._answer(api, window, str(query_id) if query_id else None)
        received = self.now()
        pages = _count(value.get("pages")) if continued else 0
        if not continued:
            self._previous_ids = ()
        logs = answer.get("logs") or []
        records: list[ApiLog] = []
        next_query: Any = None
        if isinstance(logs, list) and logs:
            ids = tuple(str(item.get("id")) for item in logs if isinstance(item, dict))
            if ids and ids == self._previous_ids:
                log.warning("checkpoint api %s: server repeated a page; stopping the window",
                            self.cfg.name)
            else:
                self._previous_ids = ids
                pages += 1
                records = [ApiLog(self.log_type, item, received) for item in logs]
                next_query = answer.get("query-id")
                if next_query and pages >= _MAX_PAGES:
                    log.error("checkpoint api %s: more than %d pages in one window",
                              self.cfg.name, _MAX_PAGES)
                    next_query = None
        newest = _newest(value.get("last_event_time"), logs if records else [])
        if next_query:  # pages left: the window stays open at this page
            next_cursor = {**value, "window": list(window), "query_id": str(next_query),
                           "pages": pages}
        else:  # the window is read: the next fetch opens the next one
            next_cursor = {"done_until": window[1]}
            self._previous_ids, self._losses = (), 0
        if newest:
            next_cursor["last_event_time"] = newest
        self._issued = next_cursor
        self.more = bool(next_query)
        after = api.counters
        return Batch(records, next_cursor, {
            "pages": 1 if records else 0, "logs": len(records),
            "requests": after.requests - before.requests,
            "logins": after.logins - before.logins, "retries": after.retries - before.retries})

    async def _answer(self, api: CheckpointApiClient, window: tuple[str, str],
                      query_id: str | None) -> tuple[dict[str, Any], bool]:
        """The next page of the stored query (true), else the first page of the window run
        from its start (false). A lost session or query re-runs the window, at most
        ``_WINDOW_ATTEMPTS`` times for one window."""
        while True:
            try:
                if query_id:
                    # never repeated as is: the server pages forward, so a timeout whose page
                    # was served would skip that page on a retry; the window is re-run instead
                    return await api.call("show-logs", {"query-id": query_id},
                                          attempts=1), True
                return await api.call("show-logs", {"new-query": self._query(*window)}), False
            except ApiRefused as exc:
                if not query_id or exc.code != "generic_err_invalid_parameter":
                    raise
                # query-ids are short-lived (UNVERIFIED lifetime): run the window again
                reason = f"query-id no longer valid: {exc}"
            except SourceError as exc:
                if not query_id:
                    raise
                reason = f"a query-id page failed ({exc}); it may have been served"
            except _SessionLost as exc:
                reason = str(exc)
                api.sid = None
            self._losses += 1
            if self._losses >= _WINDOW_ATTEMPTS:
                self._losses = 0
                raise SourceError(f"checkpoint api {self.cfg.name}: session keeps expiring")
            log.warning("checkpoint api %s: session or query lost while paging (%s); "
                        "re-running the window", self.cfg.name, reason)
            query_id = None

    def _query(self, start: str, end: str) -> dict[str, Any]:
        query: dict[str, Any] = {"time-frame": "custom", "custom-start": start,
                                 "custom-end": end, "type": self.log_type,
                                 "max-logs-per-request": self.cfg.max_logs_per_request}
        if self.cfg.filter:
            query["filter"] = self.cfg.filter
        if self.cfg.log_servers:
            query["log-servers"] = list(self.cfg.log_servers)
        return query

    def normalize(self, record: ApiLog) -> Iterable[Document | DeadLetter]:
        """One log entry as an ECS document (a non-object entry: a dead letter). Pure."""
        item, received = record.entry, record.received_at
        payload = orjson.dumps(item) if item is not None else b"null"
        if not isinstance(item, dict):
            return [DeadLetter(self.source, payload, "API log entry is not an object",
                               received_at=received)]
        if record.log_type == "audit":
            item = {**item, "type": item.get("type", "Audit")}
        return [normalize_api_log(item, RawRecord(self.source, payload, received),
                                  self.keep_original)]

    async def close(self) -> None:
        await self.connection.close()


def checkpoint_api_sources(cfg: CheckpointApiSource, client: httpx.AsyncClient | None = None,
                           *, now: Callable[[], datetime] = lambda: datetime.now(UTC),
                           sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                           monotonic: Callable[[], float] = time.monotonic,
                           keep_original: bool = True) -> list[CheckpointApiLogs]:
    """The pull sources of one configured API source: one per log type, one shared session."""
    connection = CheckpointApiConnection(cfg, client, sleep=sleep, monotonic=monotonic)
    return [CheckpointApiLogs(cfg, log_type, connection, now=now, keep_original=keep_original)
            for log_type in cfg.log_types]


def _window(value: Any) -> tuple[str, str] | None:
    """A stored ``[start, end]`` (None: no window in progress, or not one we can read)."""
    if isinstance(value, (list, tuple)) and len(value) == 2 \
            and all(isinstance(v, str) and v for v in value):
        return str(value[0]), str(value[1])
    return None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _newest(known: Any, logs: list[Any]) -> str | None:
    """The newest event time among ``known`` and the entries' ``time`` (as ``@timestamp``)."""
    newest = known if isinstance(known, str) and known else None
    for item in logs:
        raw = item.get("time") if isinstance(item, dict) else None
        parsed = event_time(raw) if isinstance(raw, str) else None
        if parsed is not None and (newest is None or parsed[0] > newest):
            newest = parsed[0]
    return newest
