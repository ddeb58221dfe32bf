"""Structured logs: one line per record, JSON or logfmt, secrets redacted.

Fields passed with ``extra={"fields": {...}}`` are emitted as keys next to ``ts``, ``level``,
``logger`` and ``msg``; the job table logs one such line per job run (``job``, ``outcome``,
``duration_s``, counts). Every line goes through ``Redactor``: the values of configured secrets
(passwords, API keys, tokens) and credential-looking fragments (``Authorization`` headers,
``user:pass@`` in URLs, ``password=...``) are replaced by ``<redacted>`` before they are written.
"""
from __future__ import annotations

import logging
import math
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

import orjson
from pydantic import BaseModel, SecretStr

from .redact import redact
from .settings import LoggingSettings

__all__ = ["Redactor", "StructuredFormatter", "configure_logging", "secrets_of"]

class Redactor:
    """Known secret values plus ``monitor.redact.redact``'s patterns (secret-looking keys,
    near-misses included, URL userinfo, Authorization headers) on every log line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # longest first so a secret containing another is removed whole; ignore trivial ones
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        return redact(text, self._secrets)


def secrets_of(model: BaseModel) -> list[str]:
    """Every ``SecretStr`` value inside a settings model (recursively)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(model)
    return found


_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message",
                                                                                  "asctime"}


class StructuredFormatter(logging.Formatter):
    def __init__(self, fmt: str, redactor: Redactor) -> None:
        super().__init__()
        self._json = fmt == "json"
        self._redact = redactor

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            for key, value in extra.items():
                fields.setdefault(str(key), value)
        if record.exc_info:
            fields["error"] = self.formatException(record.exc_info)
        if self._json:
            line = orjson.dumps(fields, default=str).decode()
        else:
            line = " ".join(f"{key}={_logfmt(value)}" for key, value in fields.items())
        return self._redact(line)


def _logfmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.3f}".rstrip("0").rstrip(".")
    text = str(value)
    if text and not any(c in text for c in ' ="\n\t\\') and text.isprintable():
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") \
        .replace("\t", "\\t") + '"'


def configure_logging(settings: LoggingSettings, secrets: Iterable[str] = (),
                      stream: IO[str] | None = None, verbose: bool = False) -> Redactor:
    """Route every logger through one structured handler on the root logger."""
    redactor = Redactor(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(StructuredFormatter(settings.format, redactor))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else getattr(logging, settings.level))
    # chatty third-party loggers: their request lines add nothing to ours
    for name in ("elastic_transport", "httpx", "httpcore", "apscheduler.executors.default",
                 "apscheduler.scheduler"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return redactor
