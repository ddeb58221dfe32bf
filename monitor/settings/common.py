"""What every section of the settings shares: the strict, frozen base model (unknown keys are
errors: a typo must not silently disable a control), TLS client settings, a schedule and file
modes."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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
