"""Structured logs: JSON and logfmt lines, one per record, secrets redacted."""
from __future__ import annotations

import io
import json
import logging

from monitor.logsetup import Redactor, configure_logging, secrets_of
from monitor.settings import LoggingSettings, settings_from_dict


def _emit(fmt: str, secrets: list[str], message: str, **fields: object) -> str:
    stream = io.StringIO()
    configure_logging(LoggingSettings(format=fmt), secrets, stream=stream)
    logging.getLogger("monitor.test").info(message, extra={"fields": fields})
    return stream.getvalue()


def test_json_line_carries_fields() -> None:
    line = _emit("json", [], "job run", job="rules", outcome="success", duration_s=0.5)
    record = json.loads(line)
    assert record["msg"] == "job run" and record["job"] == "rules"
    assert record["outcome"] == "success" and record["level"] == "info"
    assert line.count("\n") == 1


def test_logfmt_quotes_values_with_spaces_and_newlines() -> None:
    line = _emit("logfmt", [], "job run", error='bad "thing"\nsecond line', job="a b")
    assert line.count("\n") == 1
    assert 'error="bad \\"thing\\"\\nsecond line"' in line
    assert 'job="a b"' in line


def test_configured_secrets_and_credential_shapes_are_redacted() -> None:
    settings = settings_from_dict({"elasticsearch": {"username": "monitor",
                                                     "password": "Hunter2-very-secret"}})
    secrets = secrets_of(settings)
    assert "Hunter2-very-secret" in secrets
    line = _emit("json", secrets, "failed with Hunter2-very-secret",
                 url="https://user:pw123@es.example:9200/",
                 header="Authorization: Basic dXNlcjpwdw==", form="password=abc123&x=1")
    assert "Hunter2-very-secret" not in line
    assert "pw123" not in line and "dXNlcjpwdw==" not in line and "abc123" not in line
    assert line.count("<redacted>") >= 4


def test_redactor_ignores_trivial_secrets() -> None:
    assert Redactor(["", "a"])("a value") == "a value"
