"""The ``sources`` section: where evidence comes from (Check Point Management API, the syslog
receiver, log files, git repositories, GitHub, GitLab, Argo CD)."""
from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from ..identifiers import TICKET_PATTERN
from .common import Schedule, ServerTls, TlsClient, _file_mode, _Model
from .secret_refs import _resolve_secrets


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
    tls: ServerTls = ServerTls()
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
