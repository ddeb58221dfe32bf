"""Where results go: scheduled reports and their delivery, alerts (Alertmanager, a signed
webhook) and the Kibana links in them."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from .common import ServerTls, _file_mode, _Model
from .secret_refs import _resolve_secrets


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

    tls: ServerTls = ServerTls()
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
    tls: ServerTls = ServerTls()
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
