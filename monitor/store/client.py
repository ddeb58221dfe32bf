"""Client factory, capability detection and readiness.

One HTTP stack (elasticsearch-py's AsyncElasticsearch on aiohttp/httpx transport as installed),
TLS verification on unless the settings turn it off, credentials never in URLs or logs.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from elastic_transport import AsyncTransport, TransportApiResponse, TransportError
from elasticsearch import AsyncElasticsearch
from elasticsearch import exceptions as es_exc
from elasticsearch.serializer import OrjsonSerializer

from ..errors import StoreError, StoreUnavailable
from ..settings import ElasticsearchSettings
from .indices import IndexNames

__all__ = ["Capabilities", "ObservedTransport", "RequestObserver", "Store", "build_client",
           "open_store", "translate_error"]

log = logging.getLogger(__name__)

# module name in _nodes/plugins → capability
_MODULES = {
    "lang-painless": "painless",
    "ingest-common": "ingest",
    "x-pack-ilm": "ilm",
    "data-streams": "data_streams",
    "x-pack-eql": "eql",
    "x-pack-esql": "esql",
    "reindex": "delete_by_query",
}


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the connected cluster can do beyond core search and indexing."""

    version: str
    modules: frozenset[str] = field(default_factory=frozenset)

    def has(self, capability: str) -> bool:
        return any(m in self.modules for m, c in _MODULES.items() if c == capability)

    @property
    def minimal(self) -> bool:
        """The integ-test build: no painless, ingest, ILM, data-stream APIs, EQL or ES|QL."""
        return not (self.has("painless") or self.has("ingest"))

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "distribution": "minimal" if self.minimal else "full",
                **{cap: self.has(cap) for cap in sorted(set(_MODULES.values()))}}


def translate_error(exc: Exception, what: str) -> StoreError:
    """Map an elasticsearch/transport exception to ours; call as ``raise translate_error(...) from exc``."""
    if isinstance(exc, (es_exc.ConnectionError, es_exc.ConnectionTimeout)):
        return StoreUnavailable(f"{what}: Elasticsearch unreachable: {type(exc).__name__}")
    if isinstance(exc, es_exc.AuthenticationException):
        return StoreError(f"{what}: authentication failed (401): check username/password or api_key")
    if isinstance(exc, es_exc.AuthorizationException):
        return StoreError(f"{what}: not authorized (403): the user lacks a privilege: "
                          f"{_reason(exc)}")
    if isinstance(exc, es_exc.ApiError):
        status = exc.meta.status
        if status in (429, 502, 503, 504):
            return StoreUnavailable(f"{what}: Elasticsearch overloaded or down ({status})")
        return StoreError(f"{what}: HTTP {status}: {_reason(exc)}")
    if isinstance(exc, TransportError):
        return StoreUnavailable(f"{what}: transport error: {exc}")
    return StoreError(f"{what}: {exc}")


def _reason(exc: es_exc.ApiError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", {})
    if isinstance(error, dict):
        return str(error.get("reason") or error.get("type") or exc.message)[:300]
    return str(error or exc.message)[:300]


#: told of every request: method, path, seconds, the exception when it raised (else None)
RequestObserver = Callable[[str, str, float, BaseException | None], None]


class ObservedTransport(AsyncTransport):
    """The client's transport with a seam for observers (``observe``): the metrics module times
    every request through it, and the store stays free of metrics. Observers must not raise."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.observers: list[RequestObserver] = []

    def observe(self, observer: RequestObserver) -> None:
        self.observers.append(observer)

    async def perform_request(self, method: str, target: str,  # type: ignore[override]  # same keywords, passed on
                              **kwargs: Any) -> TransportApiResponse:  # same keywords, passed on
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            return await super().perform_request(method, target, **kwargs)
        except BaseException as exc:
            error = exc
            raise
        finally:
            seconds = time.perf_counter() - started
            for observer in self.observers:
                observer(method, target, seconds, error)


def build_client(settings: ElasticsearchSettings) -> AsyncElasticsearch:
    """Build the async client. No network I/O happens here."""
    kwargs: dict[str, Any] = {
        "hosts": settings.hosts,
        "request_timeout": settings.request_timeout_seconds,
        "retry_on_timeout": False,
        "max_retries": 0,  # the writer owns retries and backoff
        "node_class": "httpxasync",  # one HTTP stack for the whole daemon: httpx
        "serializers": {"application/json": OrjsonSerializer()},
        "transport_class": ObservedTransport,
    }
    if settings.username:
        assert settings.password is not None
        kwargs["basic_auth"] = (settings.username, settings.password.get_secret_value())
    if settings.api_key is not None:
        kwargs["api_key"] = settings.api_key.get_secret_value()
    if any(h.startswith("https://") for h in settings.hosts):
        kwargs["verify_certs"] = settings.tls.verify
        if settings.tls.ca_file:
            kwargs["ca_certs"] = str(settings.tls.ca_file)
        if settings.tls.fingerprint_sha256:
            kwargs["ssl_assert_fingerprint"] = settings.tls.fingerprint_sha256.replace(":", "")
        if settings.tls.client_cert:
            kwargs["client_cert"] = str(settings.tls.client_cert)
            kwargs["client_key"] = str(settings.tls.client_key) if settings.tls.client_key else None
        if not settings.tls.verify:
            log.warning("elasticsearch TLS verification is OFF (elasticsearch.tls.verify=false)")
    return AsyncElasticsearch(**kwargs)


@dataclass
class Store:
    """An open connection plus the index names and capabilities everything else needs."""

    es: AsyncElasticsearch
    names: IndexNames
    settings: ElasticsearchSettings
    capabilities: Capabilities | None = None

    async def health(self, wait_for: str = "yellow", timeout: str = "5s") -> dict[str, Any]:
        """Cluster health; readiness means yellow or better."""
        try:
            response = await self.es.cluster.health(wait_for_status=wait_for, timeout=timeout)
        except Exception as exc:
            raise translate_error(exc, "cluster health") from exc
        return dict(response.body)

    async def ready(self) -> bool:
        try:
            body = await self.health(timeout="1s")
        except StoreError:
            return False
        return body.get("status") in ("yellow", "green") and not body.get("timed_out", False)

    async def detect(self) -> Capabilities:
        """Detect the version and optional modules once; cached on the store."""
        try:
            response = await self.es.nodes.info(node_id="_local", metric="plugins")
        except Exception as exc:
            if isinstance(exc, es_exc.AuthorizationException):
                # least-privilege users may lack cluster:monitor; assume the minimal feature set
                log.info("cannot read node modules (403); assuming a minimal feature set")
                self.capabilities = Capabilities(version="unknown")
                return self.capabilities
            raise translate_error(exc, "detect capabilities") from exc
        node = next(iter(response.body["nodes"].values()))
        modules = frozenset(m["name"] for m in node.get("modules", []))
        self.capabilities = Capabilities(version=node.get("version", "unknown"), modules=modules)
        if self.capabilities.minimal:
            log.info("elasticsearch %s is a minimal distribution: no ILM/data streams/painless; "
                     "retention uses dated indices", self.capabilities.version)
        return self.capabilities

    def observe(self, observer: RequestObserver) -> None:
        """Tell ``observer`` of every request this store's client sends (metrics hook in)."""
        transport = self.es.transport
        if not isinstance(transport, ObservedTransport):
            raise TypeError("the client was not built by store.client.build_client")
        transport.observe(observer)

    async def close(self) -> None:
        await self.es.close()


def open_store(settings: ElasticsearchSettings, prefix: str | None = None) -> Store:
    """Build a Store (no I/O yet). ``prefix`` overrides the configured index prefix (tests)."""
    return Store(es=build_client(settings), names=IndexNames(prefix or settings.index_prefix),
                 settings=settings)
