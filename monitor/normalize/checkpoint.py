"""Where a Check Point line becomes a document.

``normalize_checkpoint(raw)`` auto-detects the format of one record (Log Exporter ``syslog``
``key:"value"`` body in an RFC 5424 / RFC 3164 envelope or none, the ``Fields@`` SD-ELEMENT
dialect, CEF, LEEF, JSON) and returns a ``Document`` for the ``events`` index, or a
``DeadLetter`` with the reason. It never raises and does no I/O; ``received_at`` of the record is
the only clock it reads. ``normalize_api_log(log, ...)`` does the same for one object of the
Management API's ``show-logs`` answer.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from ..model import DeadLetter, Document, EncodedSource, RawRecord
from . import native
from .cef import parse_cef
from .checkpoint_ecs import epoch_ts, format_ts, to_ecs
from .checkpoint_fields import fields_from_mapping
from .checkpoint_kv import Fields, parse_cp_body, parse_sd_fields
from .ids import checkpoint_event_id, payload_id
from .leef import parse_leef
from .syslog_envelope import Envelope, split_envelope

__all__ = ["MAX_LINE_BYTES", "normalize_api_log", "normalize_checkpoint", "parse_fields"]

#: a single log line longer than this is refused (dead letter), not parsed
MAX_LINE_BYTES = 256 * 1024
_KIND = "events"
_new_tuple = tuple.__new__


def parse_fields(text: str, year: int) -> tuple[Fields, str, Envelope, str] | str:
    """Detect the format and tokenize: (fields, format, envelope, leftover), or a reason
    string when nothing could be read."""
    env = split_envelope(text, year)
    message = env.message.strip()
    fmt: str
    leftover = ""
    if message.startswith("[Fields@"):
        fields, leftover = parse_sd_fields(message[8:].split(" ", 1)[1] if " " in message else "")
        fmt = "syslog-sd"
    elif message.startswith("["):
        end = message.rfind("]")
        body = message[1:end] if end > 0 else message[1:]
        fields, leftover = parse_cp_body(body)
        fmt = "syslog"
        if end < 0:
            leftover = (leftover + " … " if leftover else "") + "unterminated body"
    elif message.startswith("CEF:") or "CEF:0|" in message[:200]:
        start = message.find("CEF:")
        parsed = parse_cef(message[start:])
        if parsed is None:
            return "CEF header incomplete"
        fields, leftover = parsed
        fmt = "cef"
    elif message.startswith("LEEF:") or "LEEF:" in message[:200]:
        parsed = parse_leef(message[message.find("LEEF:"):])
        if parsed is None:
            return "LEEF header incomplete"
        fields, leftover = parsed
        fmt = "leef"
    elif message.startswith("{"):
        try:
            data = orjson.loads(message)
        except orjson.JSONDecodeError as exc:
            return f"invalid JSON: {str(exc)[:120]}"
        if not isinstance(data, dict):
            return "JSON record is not an object"
        api_style = "i_f_dir" in data or "orig" in data or (
            "id" in data and "loguid" not in data)
        fields = fields_from_mapping(data, api=api_style)
        fmt = "json"
    else:
        # a bare key:"value" body without brackets (some relays strip them)
        fields, leftover = parse_cp_body(message)
        fmt = "syslog-bare"
    if not fields:
        return f"no Check Point fields found ({fmt})"
    if env.hostname and "origin" not in fields and fmt in ("syslog", "syslog-bare", "cef", "leef"):
        fields.setdefault("syslog_host", env.hostname)
    return fields, fmt, env, leftover


#: the last receipt time and its text (sources stamp whole batches with one datetime);
#: one tuple, replaced whole, so threads never see a time with another time's text
_last_received: tuple[datetime | None, str | None] = (None, None)


def _received_ts(received_at: datetime) -> str | None:
    global _last_received
    last = _last_received
    if received_at is last[0]:
        return last[1]
    stamp = received_at.timestamp()
    created = epoch_ts(int(stamp), int(stamp * 1000) % 1000)
    _last_received = (received_at, created)
    return created


def _no_header() -> tuple[str | None, str | None]:
    return None, None


def _document(fields: Fields, *, source: str, payload: bytes,
              header: Callable[[], tuple[str | None, str | None]], received_at: datetime,
              original: str | None, fmt: str, leftover: str,
              content: str | None = None) -> Document:
    doc = to_ecs(fields, header=header, fallback=lambda: format_ts(received_at))
    created = _received_ts(received_at)
    event = doc["event"]
    if created:
        event["created"] = created  # when we received it (ECS: first read by us)
        event["ingested"] = created  # read by the clock-skew control (CHK-29)
    if original is not None:
        event["original"] = original
    if leftover:
        doc["checkpoint"]["unparsed"] = leftover
        doc.setdefault("tags", []).append("partially_parsed")
    if isinstance(fields.get("loguid"), list):  # two records spliced into one line
        doc.setdefault("tags", []).append("spliced_record_suspected")
    doc["monitor"] = {"source": source}
    doc["ecs"] = {"version": "8.17.0"}
    doc["checkpoint"]["log_format"] = fmt
    loguid = event.get("id")
    if loguid:
        origin = fields.get("origin")
        sequence = fields.get("sequencenum")
        doc_id = checkpoint_event_id(loguid, sequence if isinstance(sequence, str) else None,
                                     origin if isinstance(origin, str) else None, content)
    else:
        doc_id = payload_id(source, payload)
    return Document(_KIND, doc_id, doc)


def _content(message: str, fmt: str) -> str:
    """What a line's id covers besides the loguid (``ids.py``): the ``k:"v"`` body of a Log
    Exporter record (the compiled fast path hashes the same text), else the whole message
    after the syslog header; never the header, which relays rewrite."""
    message = message.strip()
    if fmt == "syslog":
        end = message.rfind("]")
        return message[1:end] if end > 0 else message[1:]
    return message


def normalize_checkpoint(raw: RawRecord, keep_original: bool = True) -> Document | DeadLetter:
    """One record → an ECS ``Document`` (kind ``events``) or a ``DeadLetter``. Never raises."""
    try:
        payload = raw.payload
        if len(payload) > MAX_LINE_BYTES:
            return DeadLetter(raw.source, payload[:MAX_LINE_BYTES],
                              f"record longer than {MAX_LINE_BYTES} bytes ({len(payload)})",
                              received_at=raw.received_at)
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            text = payload.decode("utf-8", "replace")
        text = text.rstrip("\r\n\t \x00")
        if not text or text.isspace():
            return DeadLetter(raw.source, payload, "empty record", received_at=raw.received_at)
        if "\x00" in text:
            text = text.replace("\x00", "\ufffd")
        fast = native.active
        if fast is not None:
            result = fast(text, _received_ts(raw.received_at), raw.source, keep_original)
            if result.__class__ is tuple:
                doc_id, timestamp, body = result
                # tuple.__new__: Document's generated __new__ is a Python call (0.6 µs a line)
                return _new_tuple(Document, (_KIND, doc_id or payload_id(raw.source, payload),
                                             EncodedSource(body, timestamp), None))
        parsed = parse_fields(text, raw.received_at.year)
        if isinstance(parsed, str):
            return DeadLetter(raw.source, payload, parsed, received_at=raw.received_at)
        fields, fmt, env, leftover = parsed
        return _document(fields, source=raw.source, payload=payload, header=env.resolve,
                         received_at=raw.received_at,
                         original=text if keep_original else None, fmt=fmt, leftover=leftover,
                         content=_content(env.message, fmt))
    except Exception as exc:  # noqa: BLE001 - never raises: any bug in a parser dead-letters the line
        return DeadLetter(raw.source, raw.payload,
                          f"normalizer error {type(exc).__name__}: {str(exc)[:200]}",
                          stage="normalize", received_at=raw.received_at)


def normalize_api_log(log: dict[str, Any], raw: RawRecord,
                      keep_original: bool = True) -> Document | DeadLetter:
    """One ``show-logs`` object (already decoded; ``raw.payload`` is its JSON) → document."""
    try:
        fields = fields_from_mapping(log, api=True)
        if not fields:
            return DeadLetter(raw.source, raw.payload, "empty API log object",
                              received_at=raw.received_at)
        original = raw.payload.decode("utf-8", "replace") if keep_original else None
        return _document(fields, source=raw.source, payload=raw.payload, header=_no_header,
                         received_at=raw.received_at,
                         original=original, fmt="api", leftover="")
    except Exception as exc:  # noqa: BLE001 - as above: dead-lettered, never lost
        return DeadLetter(raw.source, raw.payload,
                          f"normalizer error {type(exc).__name__}: {str(exc)[:200]}",
                          stage="normalize", received_at=raw.received_at)
