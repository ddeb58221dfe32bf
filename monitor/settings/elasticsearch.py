"""The ``elasticsearch`` section: hosts, credentials (never in clear text to a remote host
unless accepted explicitly), bulk writing and plausible event times."""
from __future__ import annotations

import ipaddress
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator

from .common import TlsClient, _Model
from .secret_refs import _resolve_secrets


class BulkSettings(_Model):
    chunk_docs: int = Field(5000, ge=1, le=100_000)
    chunk_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    #: 3, not 2: while Python serializes the next chunk, Elasticsearch still has two to work
    #: on (bench/bulk.py: median 0.87 of raw _bulk with 3, 0.73 with 2, on 2 cores)
    max_in_flight: int = Field(3, ge=1, le=16)
    max_retries: int = Field(8, ge=0, le=100)
    initial_backoff_seconds: float = Field(0.5, gt=0)
    max_backoff_seconds: float = Field(30.0, gt=0)


class EventTimeSettings(_Model):
    """Plausible event times (``store/timewindow.py``): a document claiming a time outside
    [ingest - max_age_days, ingest + max_ahead_days] goes to the current month's index, flagged,
    instead of creating the index its sender chose."""

    enabled: bool = True
    max_age_days: float = Field(30.0, gt=0)
    max_ahead_days: float = Field(1.0, gt=0)
    #: commit dates: history imports are legitimately old, a year back is still bounded
    changes_max_age_days: float = Field(400.0, gt=0)

    def days(self) -> dict[str, tuple[float, float]]:
        """kind → (days back, days ahead)."""
        return {"events": (self.max_age_days, self.max_ahead_days),
                "changes": (self.changes_max_age_days, self.max_ahead_days)}


class ElasticsearchSettings(_Model):
    hosts: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:9200"], min_length=1)
    username: str | None = None
    password: SecretStr | None = None
    api_key: SecretStr | None = None
    tls: TlsClient = TlsClient()
    request_timeout_seconds: float = Field(30.0, gt=0)
    index_prefix: str = Field("monitor", pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    number_of_shards: int = Field(1, ge=1)
    #: None (default): 1 when the cluster has more than one data node at ``es setup``, else 0
    number_of_replicas: int | None = Field(None, ge=0)
    #: keep the raw line in event.original (PCI evidence; costs disk)
    keep_original: bool = True
    bulk: BulkSettings = BulkSettings()
    event_time: EventTimeSettings = EventTimeSettings()
    #: send username/password or api_key over plain http:// to a non-loopback host anyway
    #: (anyone on the path reads them); refused unless set
    allow_plaintext_credentials: bool = False

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any) -> Any:
        return _resolve_secrets(data, ("password", "api_key"))

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if not host.startswith(("http://", "https://")):
                raise ValueError(f"host {host!r} must start with http:// or https://")
            if "@" in host.split("//", 1)[1].split("/", 1)[0]:
                raise ValueError("credentials in a host URL would be logged; use username/password")
        return hosts

    @model_validator(mode="after")
    def _auth(self) -> ElasticsearchSettings:
        if self.password is not None and not self.username:
            raise ValueError("password given without username")
        if self.api_key is not None and self.username:
            raise ValueError("give either api_key or username/password, not both")
        if self.password is not None or self.api_key is not None:
            plain = [h for h in self.hosts if h.startswith("http://") and not _loopback(h)]
            if plain and not self.allow_plaintext_credentials:
                raise ValueError(
                    f"credentials would be sent in clear text to {plain[0]}: use https:// "
                    "(or set allow_plaintext_credentials to true to accept the risk)")
            if plain:
                import logging

                # the configuration's one logger name, whichever of its modules warns
                logging.getLogger("monitor.settings").warning(
                    "elasticsearch credentials go over plain http:// to %s "
                    "(allow_plaintext_credentials: true)", plain[0])
        return self


def _loopback(url: str) -> bool:
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
