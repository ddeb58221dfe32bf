"""Small helpers the forge modules share: the connection a pull source keeps across runs,
collecting pages, dead letters, what a fetch cost, timestamps."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from ...model import DeadLetter
from ...timefmt import iso_s
from .http import ForgeCounters, ForgeError, ForgeHttp

if TYPE_CHECKING:  # pragma: no cover
    import httpx
    from pydantic import SecretStr

__all__ = ["ForgeConnection", "bearer_headers", "collect", "dead_letter", "guard",
           "http_counts", "iso"]

log = logging.getLogger(__name__)
_MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError)


async def guard(docs: list[DeadLetter], source: str, what: str, item: Any,
                handle: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Run ``handle(item, *args)``; an item of an unexpected shape becomes a dead letter
    (its JSON and the reason) instead of stopping the source. Returns handle's result (True
    when it returns None), or None for a dead-lettered item. ``ForgeError`` (network, HTTP)
    still propagates."""
    mark = len(docs)
    if not isinstance(item, dict):
        exc: Exception = TypeError(f"expected an object, got {type(item).__name__}")
    else:
        try:
            result = await handle(item, *args)
            return True if result is None else result
        except _MALFORMED as error:
            exc = error
            del docs[mark:]  # nothing half-built from this item
    log.warning("%s: malformed %s dead-lettered: %r", source, what, exc)
    docs.append(dead_letter(source, what, item, exc))
    return None


def dead_letter(source: str, what: str, item: Any, exc: Exception) -> DeadLetter:
    """An item of an unexpected shape as a dead letter: its JSON and the reason."""
    return DeadLetter(source, orjson.dumps(item, default=str)[:1_000_000],
                      f"malformed {what}: {exc!r}"[:1000], stage="parse")


class ForgeConnection:
    """What a forge pull source keeps from one run to the next: its HTTP client (built on first
    use; closed by :meth:`close` unless it was handed in) and the ``ForgeHttp`` over it, whose
    ETag cache, quota block and counters therefore last as long as the source does."""

    def __init__(self, make_client: Callable[[], httpx.AsyncClient],
                 make_http: Callable[[httpx.AsyncClient], ForgeHttp],
                 client: httpx.AsyncClient | None = None) -> None:
        self._make_client, self._make_http = make_client, make_http
        self._given = client
        self._owned: httpx.AsyncClient | None = None
        self._http: ForgeHttp | None = None

    def http(self) -> ForgeHttp:
        if self._http is None:
            client = self._given
            if client is None:
                client = self._owned = self._make_client()
            self._http = self._make_http(client)
        return self._http

    async def close(self) -> None:
        """Close our own client (a next run builds a new one); a client handed in stays open
        and keeps its ``ForgeHttp``."""
        owned, self._owned = self._owned, None
        if owned is not None:
            self._http = None
            await owned.aclose()


def http_counts(before: ForgeCounters, after: ForgeCounters) -> dict[str, int]:
    """What one fetch cost: requests, 304s and rate-limit waits (whole seconds waited)."""
    return {"requests": after.requests - before.requests,
            "not_modified": after.not_modified - before.not_modified,
            "rate_limit_waits": after.rate_limit_waits - before.rate_limit_waits,
            "rate_limit_wait_seconds": round(after.rate_limit_wait_seconds
                                             - before.rate_limit_wait_seconds)}


async def collect(http: ForgeHttp, path: str, params: dict[str, Any] | None = None, *,
                  key: str | None = None, missing_ok: bool = False,
                  max_pages: int = 100) -> list[dict[str, Any]]:
    """Every object of a paginated list (``missing_ok``: a 404 means an empty list)."""
    items: list[dict[str, Any]] = []
    try:
        async for page in http.pages(path, params, key=key, max_pages=max_pages):
            items += [item for item in page if isinstance(item, dict)]
    except ForgeError as exc:
        if missing_ok and exc.status == 404:
            return []
        raise
    return items


#: ``YYYY-MM-DDTHH:MM:SSZ``, the format GitHub and GitLab use (comparable as strings)
iso = iso_s


def bearer_headers(token: SecretStr | None) -> dict[str, str]:
    """JSON API headers, with the token (a SecretStr or None) as a bearer credential."""
    headers = {"Accept": "application/json", "User-Agent": "pci-compliance-monitor"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token.get_secret_value()}"
    return headers
