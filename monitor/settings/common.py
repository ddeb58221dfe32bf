"""What every section of the settings shares: the strict, frozen base model (unknown keys are
errors: a typo must not silently disable a control), TLS client settings, a schedule and file
modes."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsClient(_Model):
    """How we verify a server. Verification is on unless a user turns it off explicitly."""

    verify: bool = True
    ca_file: Path | None = None
    #: SHA-256 of the server certificate (hex, colons optional), for self-signed management servers.
    fingerprint_sha256: str | None = None
    client_cert: Path | None = None
    client_key: Path | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TlsClient:
        # a CA file or a pin with verification off would read as protected and be nothing
        if not self.verify and (self.ca_file or self.fingerprint_sha256):
            raise ValueError("verify: false contradicts ca_file / fingerprint_sha256 "
                             "(they only matter when the server is verified)")
        if self.client_key and not self.client_cert:
            raise ValueError("client_key without client_cert")
        return self


class ServerTls(TlsClient):
    """TLS settings of a client that verifies by CA (forges, alert targets, SMTP): a pin is
    refused here rather than silently ignored."""

    @field_validator("fingerprint_sha256")
    @classmethod
    def _no_pin(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError("certificate pinning is supported for the Check Point API and "
                             "Elasticsearch only; trust this server with tls.ca_file")
        return value


class Schedule(_Model):
    interval_seconds: float = Field(60.0, gt=0)


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
