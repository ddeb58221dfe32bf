"""Typed settings, loaded once from YAML. All defaults live here.

Secrets are ``SecretStr`` (never shown by ``repr`` or logs) and may be given inline, from a file
(``<name>_file``) or from an environment variable (``<name>_env``). Unknown keys are errors: a
typo must not silently disable a control. ``load_settings`` reports every problem with the
file, the dotted field path and what was expected.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ConfigError, ConfigIssue
from .identifiers import TICKET_PATTERN
from .redact import is_secret_key, redact
from .yamlio import YamlError, load_yaml, locate

__all__ = [
    "Settings", "ElasticsearchSettings", "CheckpointApiSource", "SyslogSource", "GitRepoSource",
    "GithubSource", "GitlabSource", "ArgoCdSource", "load_settings", "settings_from_dict",
    "DaemonSettings", "HaSettings", "HttpSettings", "LoggingSettings", "AlertingSettings",
    "KibanaSettings", "UnresolvedSecret", "unresolved_secrets",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UnresolvedSecret(SecretStr):
    """A secret whose ``*_env`` variable is unset or whose ``*_file`` cannot be read.

    Loading does not fail on it, so a command that never uses that source (``rules list`` with
    a GitHub token unset) still runs; reading it raises ``ConfigError`` naming the setting, and
    ``config check`` lists every one (``unresolved_secrets``).
    """

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__("")
        #: ``file`` and the full field path are filled in once the whole file is validated
        self.setting, self.problem, self.file = setting, problem, "(settings)"

    def get_secret_value(self) -> str:
        raise ConfigError([ConfigIssue(self.file, self.setting, self.problem)])


#: the settings file's folder while it is validated (secret files are read during validation)
_SECRET_BASE: ContextVar[Path | None] = ContextVar("secret_base", default=None)


def _resolve_secrets(data: Any, names: tuple[str, ...]) -> Any:
    """Turn ``x_file`` / ``x_env`` into ``x`` before validation; the value is then a SecretStr
    (an ``UnresolvedSecret`` when the variable or file is missing: an error only when used)."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for name in names:
        file_key, env_key = f"{name}_file", f"{name}_env"
        if file_key in data:
            path = Path(str(data.pop(file_key)))
            base = _SECRET_BASE.get()
            if base is not None and not path.is_absolute():
                path = base / path  # like every path of the file: from the file's folder
            try:
                data[name] = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                data[name] = UnresolvedSecret(
                    file_key, f"cannot read secret file {path}: {exc.strerror}")
        if env_key in data:
            var = str(data.pop(env_key))
            data[name] = os.environ[var] if var in os.environ else UnresolvedSecret(
                env_key, f"environment variable {var} is not set")
    return data


def unresolved_secrets(settings: BaseModel, path: str = "") -> list[tuple[str, UnresolvedSecret]]:
    """Every ``UnresolvedSecret`` in a settings tree, with its field path (for ``config check``)."""
    found: list[tuple[str, UnresolvedSecret]] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, UnresolvedSecret):
            found.append((f"{path}.{value.setting}" if path and "." not in value.setting
                          else value.setting, value))
            continue
        where = f"{path}.{name}" if path else name
        items = list(enumerate(value)) if isinstance(value, (list, tuple)) else [(None, value)]
        for index, item in items:
            if isinstance(item, BaseModel):
                found.extend(unresolved_secrets(item, where if index is None else f"{where}.{index}"))
    return found


class TlsClient(_Model):
    """How we verify a server. Verification is on unless a user turns it off explicitly."""

    verify: bool = True
    ca_file: Path | None = None
    #: SHA-256 of the server certificate (hex, colons optional), for self-signed management servers.
    fingerprint_sha256: str | None = None
    client_cert: Path | None = None
    client_key: Path | None = None


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

                logging.getLogger(__name__).warning(
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


class Schedule(_Model):
    interval_seconds: float = Field(60.0, gt=0)


class CheckpointApiSource(_Model):
    """Check Point Management API (``show-logs``) and optional configuration snapshots."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    url: str
    domain: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    api_key: SecretStr | None = None
    tls: TlsClient = TlsClient()
    log_types: list[Literal["logs", "audit"]] = Field(default=["logs", "audit"])  # copied per model
    filter: str = ""
    log_servers: list[str] = Field(default_factory=list)
    max_logs_per_request: int = Field(100, ge=1, le=100)
    overlap_seconds: float = Field(120.0, ge=0)
    initial_lookback_seconds: float = Field(3600.0, gt=0)
    timeout_seconds: float = Field(30.0, gt=0)
    schedule: Schedule = Schedule()
    snapshots: bool = False
    snapshot_schedule: Schedule = Schedule(interval_seconds=86400)
    #: access layers read by the snapshot (``show-access-rulebase``)
    access_layers: list[str] = Field(default_factory=lambda: ["Network"])

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any) -> Any:
        return _resolve_secrets(data, ("password", "api_key"))

    @model_validator(mode="after")
    def _auth(self) -> CheckpointApiSource:
        if not self.url.startswith("https://"):
            raise ValueError("url must be https:// (the management API carries credentials)")
        if self.api_key is None and (self.username is None or self.password is None):
            raise ValueError("give api_key, or username and password")
        return self


def _file_mode(value: Any) -> int:
    """``0640`` (YAML reads a leading 0 as octal), ``"0640"`` or ``"0o640"``; never o+w."""
    if isinstance(value, str):
        try:
            value = int(value.removeprefix("0o"), 8)
        except ValueError:
            raise ValueError("a file mode in octal, e.g. 0640") from None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0o777:
        raise ValueError("a file mode in octal, e.g. 0640")
    if value & 0o002:
        raise ValueError("a world-writable file mode is refused")
    return value


class SpoolSettings(_Model):
    dir: Path = Path("var/spool")
    max_bytes: int = Field(1024**3, ge=1024)
    fsync_every_records: int = Field(1000, ge=1)
    #: spooled records are raw log lines: owner and group only
    file_mode: int = 0o640

    @field_validator("file_mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> int:
        return _file_mode(value)


class SyslogTls(_Model):
    listen: str = "127.0.0.1:6514"
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None  # set to require client certificates (mutual TLS)


class SyslogSource(_Model):
    """Log Exporter receiver. Listeners are off unless given an address."""

    enabled: bool = False
    udp: str | None = "127.0.0.1:5514"
    tcp: str | None = "127.0.0.1:5514"
    tls: SyslogTls | None = None
    allowed_senders: list[str] = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    queue_size: int = Field(50_000, ge=100)
    #: the queue is bounded in bytes too: 50,000 hostile 64 KB lines would be 3 GB
    queue_max_bytes: int = Field(64 * 1024 * 1024, ge=1024 * 1024)
    max_message_bytes: int = Field(65_536, ge=1024)
    flush_interval_seconds: float = Field(1.0, gt=0)
    #: a TCP/TLS connection that sends nothing for this long is closed
    idle_timeout_seconds: float = Field(300.0, gt=0)
    #: a TLS client must finish its handshake within this time
    tls_handshake_timeout_seconds: float = Field(10.0, gt=0)
    max_connections: int = Field(1000, ge=1)
    max_connections_per_sender: int = Field(64, ge=1)
    spool: SpoolSettings = SpoolSettings()

    @field_validator("allowed_senders")
    @classmethod
    def _cidrs(cls, values: list[str]) -> list[str]:
        for value in values:
            ipaddress.ip_network(value, strict=False)
        return values


class FileSource(_Model):
    #: glob patterns; relative ones are taken from the settings file's folder
    paths: list[str] = Field(default_factory=list)
    #: fields holding path strings (globs) rather than ``Path`` values, resolved all the same
    path_strings: ClassVar[tuple[str, ...]] = ("paths",)
    schedule: Schedule = Schedule(interval_seconds=300)


class GitRepoSource(_Model):
    """A git repository read through a bare mirror (``monitor.sources.git``)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=100)
    url: str
    #: branch names or globs (``release/*``, ``*``)
    branches: list[str] = Field(default_factory=lambda: ["main"])
    protected_branches: list[str] = Field(default_factory=lambda: ["main"])
    tags: bool = True
    allowed_signers_file: Path | None = None
    #: https only: sent as ``Authorization: Basic <username:token>`` through the environment
    token: SecretStr | None = None
    username: str = "x-access-token"
    ssh_key_file: Path | None = None
    #: where the bare mirror lives (``<mirror_dir>/<name>.git``); relative to the settings file
    mirror_dir: Path = Path("var/git")
    #: ticket ids found in subjects, bodies and trailers (JIRA keys, ITSM change numbers)
    ticket_pattern: str = TICKET_PATTERN
    schedule: Schedule = Schedule(interval_seconds=300)
    timeout_seconds: float = Field(300.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any) -> Any:
        return _resolve_secrets(data, ("token",))

    @field_validator("ticket_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        import re

        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @field_validator("url")
    @classmethod
    def _scheme(cls, url: str) -> str:
        if url.startswith("-") or "::" in url or any(c.isspace() for c in url):
            raise ValueError("url must not start with '-', contain '::' or whitespace")
        authority = url.split("://", 1)[1].split("/", 1)[0] if "://" in url else \
            url.split(":", 1)[0]
        if any(part.startswith("-") for part in authority.split("@")):
            raise ValueError("url user or host must not start with '-'")
        if url.startswith("https://") and "@" in url[8:].split("/", 1)[0]:
            raise ValueError("credentials in a URL would be logged; use token / token_env")
        if url.startswith(("https://", "ssh://")) or url.startswith("/"):
            return url
        if "://" not in url and ":" in url and "@" in url.split(":", 1)[0]:
            return url  # scp-like ssh (git@host:org/repo.git)
        raise ValueError("url must be https://, ssh:// or an absolute local path")


class _ForgeSource(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    base_url: str
    timeout_seconds: float = Field(30.0, gt=0)
    token: SecretStr | None = None
    tls: TlsClient = TlsClient()
    schedule: Schedule = Schedule(interval_seconds=300)

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any) -> Any:
        return _resolve_secrets(data, ("token", "private_key"))

    @field_validator("base_url")
    @classmethod
    def _https(cls, url: str) -> str:
        if not url.startswith("https://"):
            raise ValueError("base_url must be https:// (requests carry a token)")
        if "@" in url[8:].split("/", 1)[0]:
            raise ValueError("credentials in a URL would be logged; use token / token_env")
        return url


class GithubSource(_ForgeSource):
    """GitHub or GitHub Enterprise (``base_url: https://ghe.example.com/api/v3``)."""

    base_url: str = "https://api.github.com"
    repositories: list[str] = Field(min_length=1)  # owner/name
    app_id: int | None = None
    installation_id: int | None = None
    private_key: SecretStr | None = None
    protected_branches: list[str] = Field(default_factory=lambda: ["main"])
    #: how far back the first run looks (later runs continue from their cursors)
    initial_lookback_days: int = Field(30, ge=1, le=3650)
    #: commits checked for an associated pull request per branch and run (one request each)
    max_commits_per_run: int = Field(500, ge=1)

    @model_validator(mode="after")
    def _auth(self) -> GithubSource:
        app = (self.app_id, self.installation_id, self.private_key)
        if any(v is not None for v in app) and not all(v is not None for v in app):
            raise ValueError("a GitHub App needs app_id, installation_id and private_key")
        return self


class GitlabSource(_ForgeSource):
    base_url: str = "https://gitlab.com"
    projects: list[str] = Field(min_length=1)  # group/project or numeric id
    protected_branches: list[str] = Field(default_factory=lambda: ["main"])
    initial_lookback_days: int = Field(30, ge=1, le=3650)


class ArgoCdSource(_ForgeSource):
    applications: list[str] = Field(default_factory=list)  # empty = all visible


class Sources(_Model):
    checkpoint_api: list[CheckpointApiSource] = Field(default_factory=list)
    syslog: SyslogSource = SyslogSource()
    files: FileSource = FileSource()
    git: list[GitRepoSource] = Field(default_factory=list)
    github: list[GithubSource] = Field(default_factory=list)
    gitlab: list[GitlabSource] = Field(default_factory=list)
    argocd: list[ArgoCdSource] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> Sources:
        seen: set[str] = set()
        for group in (self.checkpoint_api, self.git, self.github, self.gitlab, self.argocd):
            for source in group:
                if source.name in seen:
                    raise ValueError(f"source name {source.name!r} used twice")
                seen.add(source.name)
        return self


FastLaneType = Literal["match", "threshold", "cardinality", "sequence"]
FAST_LANE_TYPES: tuple[FastLaneType, ...] = ("match", "threshold", "cardinality", "sequence")


class FastLane(_Model):
    """Seconds, not minutes, for rule types whose incremental run is cheap.

    A match/threshold/cardinality/sequence rule searches only what arrived since its last
    window (one aggregation over seconds of data, ~ms), so running it every ``interval_seconds``
    costs little; its own longer interval and delay are shortened to these. Its window
    semantics and exactly-once findings are unchanged (same engine, smaller steps). Reads are
    refresh-aware: a run reads no further than the oldest line a receiver of this instance has
    taken in but not yet made searchable, so the delay only covers lateness before the receiver.
    A line older than the delay when it reaches us (API pulls, file pickup, another instance's
    backlog) is judged by the engine's ingest-time cursor (event.ingested), once. Only rules
    over ``events`` are shortened (git/forge changes arrive per sync: nothing to gain).
    """

    enabled: bool = True
    types: list[FastLaneType] = Field(default_factory=lambda: list(FAST_LANE_TYPES))
    interval_seconds: float = Field(10.0, gt=0)
    delay_seconds: float = Field(5.0, ge=0)


class RulesSettings(_Model):
    #: folders of rule files; empty means the packs bundled with the monitor
    dirs: list[Path] = Field(default_factory=list)
    exceptions_file: Path | None = None
    inventory_file: Path | None = None
    #: the rules job's tick: each run evaluates only the rules whose next window is due
    schedule: Schedule = Schedule(interval_seconds=10)
    fast_lane: FastLane = FastLane()
    compliance_schedule: Schedule = Schedule(interval_seconds=3600)
    max_backfill_segment_seconds: float = Field(3600.0, gt=0)


class BasicAuth(_Model):
    username: str
    password: SecretStr

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any) -> Any:
        return _resolve_secrets(data, ("password",))


class HttpSettings(_Model):
    """The daemon's own endpoint: /metrics, /healthz, /readyz."""

    listen: str = "127.0.0.1:9464"
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    basic_auth: BasicAuth | None = None
    #: host names a POST (reload) may be addressed to, besides the listen address and loopback
    #: names: anything else in the Host header is refused (DNS rebinding)
    allowed_hosts: list[str] = Field(default_factory=list)


class ReportKind(_Model):
    framework: Literal["pci-dss-4.0.1"] = "pci-dss-4.0.1"
    period: Literal["daily", "weekly", "monthly", "quarterly"] = "daily"
    cron: str = "30 0 * * *"


class ReportsSettings(_Model):
    dir: Path = Path("var/reports")
    formats: list[Literal["html", "json", "pdf"]] = Field(default=["html", "json"])  # copied
    kinds: list[ReportKind] = Field(default_factory=lambda: [ReportKind()])
    keep: int = Field(400, ge=1)
    chromium: Path = Path("/usr/bin/chromium")
    #: reports carry firewall logs and findings: owner and group only
    file_mode: int = 0o640

    @field_validator("file_mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> int:
        return _file_mode(value)


class RetentionSettings(_Model):
    #: PCI DSS 10.5.1: twelve months, three immediately available; default keeps 13 months
    events_months: int = Field(13, ge=12)
    changes_months: int = Field(13, ge=12)
    findings_months: int = Field(13, ge=12)
    schedule: Schedule = Schedule(interval_seconds=86400)


class HaSettings(_Model):
    instance_id: str | None = None  # default: hostname-pid
    lease_seconds: float = Field(15.0, ge=3)
    renew_seconds: float = Field(5.0, gt=0)
    #: state document that elects the active instance (pull sources, rules, reports)
    lease_name: str = Field("lease-active", pattern=r"^[A-Za-z0-9_.:-]+$")

    @model_validator(mode="after")
    def _renew_before_expiry(self) -> HaSettings:
        if self.renew_seconds * 2 > self.lease_seconds:
            raise ValueError("renew_seconds must be at most half of lease_seconds, or the "
                             "active instance may lose its lease between two renewals")
        return self


class DaemonSettings(_Model):
    """``monitor run``: shutdown bound, pidfile, and thresholds exported for alert rules."""

    pidfile: Path | None = None
    #: after SIGTERM, how long running jobs may take to finish before they are cancelled
    shutdown_timeout_seconds: float = Field(20.0, gt=0, le=600)
    #: how often values read from Elasticsearch (open findings, compliance, reports) refresh
    stats_interval_seconds: float = Field(15.0, gt=0)
    #: a source with no event for this long is "silent" (exported for the SourceSilent alert)
    source_silent_after_seconds: float = Field(900.0, gt=0)
    #: a start is refused unless Elasticsearch answers within this time
    startup_timeout_seconds: float = Field(30.0, gt=0)


class KibanaSettings(_Model):
    """Where people look at events: alerts link to Discover when ``url`` is set."""

    url: str | None = None
    #: the Kibana data view (index pattern) id or name Discover opens
    data_view: str = "monitor-events-*"

    @field_validator("url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return url.rstrip("/") if url else url


class _HttpTarget(_Model):
    """An HTTP endpoint we post to: TLS verified unless turned off explicitly, credentials from
    ``*_file``/``*_env`` so they are never inline in a file others can read."""

    tls: TlsClient = TlsClient()
    timeout_seconds: float = Field(10.0, gt=0)
    username: str | None = None
    password: SecretStr | None = None
    bearer_token: SecretStr | None = None

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any) -> Any:
        return _resolve_secrets(data, ("password", "bearer_token", "secret"))

    @staticmethod
    def _check_url(url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} must start with http:// or https://")
        if "@" in url.split("//", 1)[1].split("/", 1)[0]:
            raise ValueError("credentials in a URL would be logged; use username/password_env")
        return url.rstrip("/")


class AlertmanagerTarget(_HttpTarget):
    #: every URL gets every alert (an HA pair gossips and deduplicates, as with Prometheus)
    urls: list[str] = Field(default_factory=list)

    @field_validator("urls")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        return [cls._check_url(u) for u in urls]


class WebhookTarget(_HttpTarget):
    """For those without Alertmanager: the Alertmanager webhook payload, HMAC-SHA256 signed."""

    url: str | None = None
    #: HMAC key; the signature goes in ``X-Monitor-Signature: t=<unix>,v1=<hex>``
    secret: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        return None if url is None else cls._check_url(url)

    @model_validator(mode="after")
    def _signed(self) -> WebhookTarget:
        if self.url is not None and self.secret is None:
            raise ValueError("a webhook needs a secret (secret_file / secret_env) to sign bodies")
        return self


class AlertQueueSettings(_Model):
    dir: Path = Path("var/alert-queue")
    #: per destination; when full, the oldest queued batch is dropped (and counted)
    max_bytes: int = Field(64 * 1024**2, ge=64 * 1024)


class SmtpSettings(_Model):
    host: str = "127.0.0.1"
    port: int = Field(587, ge=1, le=65535)
    #: STARTTLS before authenticating (on unless turned off explicitly, e.g. a local relay)
    starttls: bool = True
    tls: TlsClient = TlsClient()
    username: str | None = None
    password: SecretStr | None = None
    sender: str = "monitor@localhost"
    timeout_seconds: float = Field(30.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any) -> Any:
        return _resolve_secrets(data, ("password",))


class ReportDeliverySettings(_Model):
    """After a scheduled report is rendered: email it and/or copy it to a folder."""

    smtp: SmtpSettings | None = None
    #: report period (daily, weekly, monthly, quarterly) or ``default`` → recipients
    recipients: dict[str, list[str]] = Field(default_factory=dict)
    copy_to: Path | None = None
    max_attempts: int = Field(5, ge=1, le=50)
    initial_backoff_seconds: float = Field(2.0, gt=0)
    max_backoff_seconds: float = Field(120.0, gt=0)


class AlertingSettings(_Model):
    """Findings and failed controls as Alertmanager alerts (and/or a signed webhook)."""

    enabled: bool = False
    alertmanager: AlertmanagerTarget = AlertmanagerTarget()
    webhook: WebhookTarget = WebhookTarget()
    #: static labels on every alert (environment, site); values are bounded like the others
    labels: dict[str, str] = Field(default_factory=dict)
    findings: bool = True
    controls: bool = True
    min_severity: Literal["low", "medium", "high", "critical"] = "low"
    #: control statuses that raise an alert (resolved when the control reads otherwise)
    control_statuses: list[Literal["fail", "insufficient_data"]] = Field(
        default=["fail", "insufficient_data"])
    #: how often open findings and control results are compared with what was posted
    sync_interval_seconds: float = Field(10.0, gt=0)
    #: open alerts are posted again this often; each carries endsAt = now + 4x this
    resend_interval_seconds: float = Field(60.0, ge=1)
    batch_size: int = Field(500, ge=1, le=10_000)
    max_label_length: int = Field(128, ge=16, le=1024)
    #: ``https://wiki.example.net/runbooks/{rule_id}``; empty: the rule's triage note
    runbook_url: str | None = None
    queue: AlertQueueSettings = AlertQueueSettings()
    initial_backoff_seconds: float = Field(1.0, gt=0)
    max_backoff_seconds: float = Field(60.0, gt=0)
    report_delivery: ReportDeliverySettings = ReportDeliverySettings()

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        import re

        for key in labels:
            if not re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", key) or key.startswith("__"):
                raise ValueError(f"label name {key!r} is not a valid Prometheus label name")
        return labels


class LoggingSettings(_Model):
    format: Literal["json", "logfmt"] = "logfmt"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Settings(_Model):
    elasticsearch: ElasticsearchSettings = ElasticsearchSettings()
    sources: Sources = Sources()
    rules: RulesSettings = RulesSettings()
    http: HttpSettings = HttpSettings()
    reports: ReportsSettings = ReportsSettings()
    retention: RetentionSettings = RetentionSettings()
    ha: HaSettings = HaSettings()
    daemon: DaemonSettings = DaemonSettings()
    logging: LoggingSettings = LoggingSettings()
    alerting: AlertingSettings = AlertingSettings()
    kibana: KibanaSettings = KibanaSettings()
    #: where relative paths in this file are resolved (the file's folder); set by the loader
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _paths_from_base_dir(self) -> Settings:
        """Every relative path of the file, resolved once against ``base_dir``: the daemon, the
        CLI and the reports then read the same files whatever the working directory."""
        resolved = _resolve_paths(self, self.base_dir)
        assert isinstance(resolved, Settings)
        return resolved


def _resolve_paths(model: BaseModel, base: Path) -> BaseModel:
    """A copy of ``model`` whose relative ``Path`` values (also in lists and nested models, and
    the ``path_strings`` a model names) are joined to ``base``."""
    def one(value: Any) -> Any:
        if isinstance(value, Path):
            return value if value.is_absolute() else base / value
        if isinstance(value, BaseModel):
            return _resolve_paths(value, base)
        if isinstance(value, list):
            return [one(item) for item in value]
        if isinstance(value, dict):
            return {key: one(item) for key, item in value.items()}
        return value

    strings = getattr(type(model), "path_strings", ())
    update: dict[str, Any] = {}
    for name in type(model).model_fields:
        if name == "base_dir":
            continue
        value = getattr(model, name)
        if name in strings:
            new = [p if Path(p).is_absolute() else str(base / p) for p in value]
        else:
            new = one(value)
        if new is not value and new != value:
            update[name] = new
    return model.model_copy(update=update) if update else model


def _issue_from_error(file: str, error: Mapping[str, Any]) -> ConfigIssue:
    field = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if error["type"] == "extra_forbidden":
        message = "unknown setting (check spelling; see config.example.yaml)"
    got = error.get("input")
    shown = "" if isinstance(got, (dict, list)) or error["type"] == "missing" else repr(got)
    # a mistyped secret key (``pasword:``) is unknown to the model, so its value would be shown:
    # any secret-looking part of the path hides it, and the text itself is redacted
    if shown and any(is_secret_key(str(part)) for part in error["loc"]):
        shown = "<redacted>"
    return ConfigIssue(file=file, field=field, expected=redact(message), got=redact(shown)[:80])


def _placed(issue: ConfigIssue, loc: tuple[int | str, ...]) -> ConfigIssue:
    """The issue with the line and column of its field, when it comes from a file."""
    found = locate(issue.file, loc) if Path(issue.file).is_file() else None
    return dataclasses.replace(issue, line=found[0], column=found[1]) if found else issue


def settings_from_dict(data: Any, source: str = "<dict>", base_dir: Path | None = None) -> Settings:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue(source, "(top level)", "a mapping of settings",
                                       type(data).__name__)])
    token = _SECRET_BASE.set(base_dir)
    try:
        settings = Settings.model_validate({**data, "base_dir": base_dir or Path(".")})
    except ValidationError as exc:
        raise ConfigError([_placed(_issue_from_error(source, err), err["loc"])
                           for err in exc.errors()]) from None
    finally:
        _SECRET_BASE.reset(token)
    for field, secret in unresolved_secrets(settings):
        secret.setting, secret.file = field, source
    return settings


def load_settings(path: str | Path) -> Settings:
    """Load and validate a settings file; raise ``ConfigError`` naming every bad field."""
    path = Path(path)
    try:
        data = load_yaml(path)
    except YamlError as exc:
        raise ConfigError([ConfigIssue(str(path), "(file)", redact(str(exc).split(": ", 1)[-1]),
                                       line=exc.line, column=exc.column)]) from None
    return settings_from_dict(data, str(path), path.resolve().parent)
