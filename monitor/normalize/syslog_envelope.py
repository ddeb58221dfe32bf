"""Syslog envelopes (RFC 5424, RFC 3164, or none) around a Check Point payload. Pure.

``split_envelope(text, year)`` returns the header facts and the message part; it never raises.
Check Point's Log Exporter writes ``<134>1 2020-03-29T13:19:22Z host CheckPoint 1930 - [k:"v"; ...]``;
relays often rewrite it as RFC 3164 (``<134>Mar 29 13:19:22 host CheckPoint[1930]: [...]``).
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import NamedTuple

__all__ = ["Envelope", "parse_iso", "split_envelope"]

_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_RFC3164 = re.compile(
    r"(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d) "
    r"(?:(?P<host>[^\s\[]+) )?(?P<tag>[^\s:\[]+(?:\[\d+\])?:? ?)?")
_ISO = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?\s*"
    r"(Z|z|-?[+-]\d{1,2}(?::?\d\d)?)?$")


class Envelope(NamedTuple):
    """What the syslog header says. ``timestamp`` is aware (UTC if the header had no zone).

    A NamedTuple (immutable, and cheap to build: one per input line)."""

    pri: int | None
    timestamp: datetime | None
    hostname: str | None
    app: str | None
    timezone: str | None
    message: str
    #: RFC 5424 timestamp text, parsed only when needed (``resolve``)
    timestamp_text: str | None = None

    def resolve(self) -> tuple[str | None, str | None]:
        """(``@timestamp`` text in UTC, zone label) from the header, or (None, None)."""
        moment, zone = self.timestamp, self.timezone
        if moment is None and self.timestamp_text:
            parsed = parse_iso(self.timestamp_text)
            if parsed is None:
                return None, None
            moment, zone = parsed
        if moment is None:
            return None, None
        moment = moment.astimezone(UTC)
        return (moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
                zone)


def parse_iso(text: str) -> tuple[datetime, str] | None:
    """ISO 8601 with the Log Exporter quirks (``--5:00`` = ``-05:00``); (aware dt, zone label)."""
    match = _ISO.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, frac, zone = match.groups()
    try:
        micro = int((frac or "0")[:6].ljust(6, "0"))
        offset, label = _offset(zone)
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                          micro, tzinfo=offset)
    except (ValueError, OverflowError):
        return None
    return moment, label


def _offset(zone: str | None) -> tuple[timezone, str]:
    if zone is None or zone in ("Z", "z"):
        return UTC, "UTC"
    zone = zone[1:] if zone.startswith("-") and len(zone) > 1 and zone[1] in "+-" else zone
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    hours, minutes = (int(digits[:-2] or 0), int(digits[-2:])) if len(digits) > 2 else (int(digits), 0)
    if hours > 23 or minutes > 59:
        raise ValueError("offset out of range")
    label = f"{'-' if sign < 0 else '+'}{hours:02d}:{minutes:02d}"
    return timezone(sign * timedelta(hours=hours, minutes=minutes)), label


def split_envelope(text: str, year: int) -> Envelope:
    """Peel the syslog header off ``text``; unknown shapes leave the whole text as message."""
    pri: int | None = None
    rest = text.lstrip("\ufeff")
    if rest.startswith("<"):
        end = rest.find(">", 1, 6)
        if end > 1 and rest[1:end].isdigit():
            pri = int(rest[1:end])
            rest = rest[end + 1:]
    if rest[:2] == "1 ":
        return _rfc5424(pri, rest[2:])
    match = _RFC3164.match(rest) if rest[:1].isupper() else None
    if match is not None and match.group("mon") in _MONTHS:
        try:
            stamp: datetime | None = datetime(year, _MONTHS[match.group("mon")],
                                              int(match.group("day")), int(match.group("h")),
                                              int(match.group("m")), int(match.group("s")),
                                              tzinfo=UTC)
        except ValueError:
            stamp = None
        tag = (match.group("tag") or "").strip().rstrip(":")
        return Envelope(pri, stamp, match.group("host"), tag.split("[", 1)[0] or None,
                        "UTC" if stamp else None, rest[match.end():])
    return Envelope(pri, None, None, None, None, rest)


def _rfc5424(pri: int | None, rest: str) -> Envelope:
    parts = rest.split(" ", 5)
    if len(parts) < 5:
        return Envelope(pri, None, None, None, None, rest)
    stamp_text, host, app = parts[0], parts[1], parts[2]
    message = parts[5] if len(parts) > 5 else ""
    return Envelope(pri, None, None if host == "-" else host, None if app == "-" else app, None,
                    message, None if stamp_text == "-" else stamp_text)
