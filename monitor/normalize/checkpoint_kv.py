"""Tokenizers for Check Point's own ``key:"value"`` syslog body and the ``Fields@`` SD-ELEMENT.

Both return ``Fields``: a dict of key → str, or list[str] when a key repeats (several policy
layers matched), plus ``leftover`` text the tokenizer could not read (spliced or truncated
records keep what parsed and say what did not). Values are unescaped (``\\"``, ``\\]``, ``\\\\``)
and trimmed. Pure, never raises.
"""
from __future__ import annotations

import re
from itertools import chain

__all__ = ["MAX_FIELDS", "Fields", "add_field", "parse_cp_body", "parse_sd_fields"]

Fields = dict[str, "str | list[str]"]

#: more fields than this in one record is hostile or broken; the rest is reported as leftover
MAX_FIELDS = 512

# key:"value" or key::"value"; value may hold escaped quotes and any other character
# (unrolled-loop form of "quoted string with escapes": twice as fast as an alternation)
# A key starts where no key character precedes it (the lookbehind): without it a long run of
# key characters without ``:`` was retried at every offset, 128 steps each (a 256 KB line took
# 1.2-1.6 s); with it every offset but a run's first fails at once, so the scan is linear. A key
# longer than 128 characters is therefore leftover, as the compiled fast path also declines it.
_KEY_START = r"(?<![A-Za-z0-9_.@\-])"
_CP_PAIR = re.compile(_KEY_START + r'([A-Za-z0-9_.@\-]{1,128})(::?)"([^"\\]*(?:\\.[^"\\]*)*)"',
                      re.DOTALL)
_SD_PAIR = re.compile(_KEY_START + r'([A-Za-z0-9_.@\-]{1,128})="([^"\\]*(?:\\.[^"\\]*)*)"',
                      re.DOTALL)
_UNESCAPE = re.compile(r"\\([\"\]\\])")
#: the key parts of a body split at ``"``, joined again with ``"``: ``k:"; k2::"; k3:``
_FAST_KEYS = re.compile(r'[A-Za-z0-9_\-]{1,128}::?(?:"; [A-Za-z0-9_\-]{1,128}::?)*')


def add_field(fields: Fields, key: str, value: str) -> None:
    """Set ``key``; a repeated key becomes a list (never keep only the last value)."""
    if key in fields:
        old = fields[key]
        if isinstance(old, list):
            old.append(value)
        else:
            fields[key] = [old, value]
    else:
        fields[key] = value


def _clean_key(key: str) -> str:
    return key.replace(".", "_").replace("@", "_")


def _value(raw: str) -> str:
    if "\\" in raw:
        raw = _UNESCAPE.sub(r"\1", raw)
    return raw.strip()


def parse_cp_body(body: str) -> tuple[Fields, str]:
    """Read ``k:"v"; k2::"v2"; ...`` (the text between the outer brackets)."""
    if "\\" not in body:
        # fast path, same result as the regex below: without backslashes every ``"`` is a
        # delimiter, so str.split gives key parts and values; one regex checks that the key
        # parts are exactly ``k:`` / ``; k:`` / ``; k::`` (else the general path decides)
        parts = body.split('"')
        count = len(parts) >> 1
        if (len(parts) & 1 and parts[-1] == "" and 0 < count <= MAX_FIELDS and ':" ' not in body
                and ' "' not in body):
            keytext = '"'.join(parts[0:-1:2])
            if _FAST_KEYS.fullmatch(keytext) is not None:
                fields: Fields = dict(zip(
                    keytext.replace("::", ":")[:-1].split(':"; '), parts[1::2], strict=False))
                if len(fields) == count:  # a repeated key needs lists: general path
                    return fields, ""
    return _parse_general(body)


def _parse_general(body: str) -> tuple[Fields, str]:
    if ':"' not in body:  # no pair can match: skip the regex scan (a C substring search)
        return {}, body.strip().strip(";").strip()[:500]
    pairs = _CP_PAIR.findall(body)
    count = len(pairs)
    if count > MAX_FIELDS:
        return _slow(pairs[:MAX_FIELDS]), "too many fields"
    fields: Fields = {k: v for k, _s, v in pairs}
    keys = "".join(fields)
    if (len(fields) != count or "\\" in body or ':" ' in body or ' "' in body
            or "." in keys or "@" in keys):
        fields = _slow(pairs)
    if not pairs:
        return fields, _leftover(body, _CP_PAIR)
    covered = len("".join(chain.from_iterable(pairs))) + 2 * count + 2 * (count - 1)
    if len(body.strip()) <= covered + 1:
        return fields, ""
    return fields, _leftover(body, _CP_PAIR)


def _slow(pairs: list[tuple[str, str, str]]) -> Fields:
    fields: Fields = {}
    for key, _sep, value in pairs:
        if "." in key or "@" in key:
            key = _clean_key(key)
        add_field(fields, key, _value(value))
    return fields


def parse_sd_fields(body: str) -> tuple[Fields, str]:
    """Read the RFC 5424 ``[Fields@1.3.6.1.4.1.2620 k="v" k2="v2" ]`` dialect (keys lower-cased)."""
    fields: Fields = {}
    if '="' not in body:
        return fields, body[:200]
    for count, (key, value) in enumerate(_SD_PAIR.findall(body)):
        if count >= MAX_FIELDS:
            return fields, "too many fields"
        add_field(fields, _clean_key(key.lower()), _value(value))
    return fields, "" if fields else body[:200]


def _leftover(body: str, pattern: re.Pattern[str]) -> str:
    """Text between and around the pairs that is not a ``; `` separator (slow path)."""
    pieces: list[str] = []
    position = 0
    for match in pattern.finditer(body):
        gap = body[position:match.start()].strip().strip(";").strip()
        if gap:
            pieces.append(gap)
        position = match.end()
    tail = body[position:].strip().strip(";").strip()
    if tail:
        pieces.append(tail)
    return " … ".join(pieces)[:500]
