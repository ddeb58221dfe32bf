"""The one redaction function: what may leave the process in a log line, an error message,
``config check`` output, ``/readyz`` or a stored reload error.

``redact(text, secrets=())`` replaces with ``<redacted>``:

* every known secret value (``secrets``: the ``SecretStr`` values of the loaded settings);
* the value after a key that *looks like* a secret, including the mistakes people make when
  typing one (``pasword:``, ``passwrd=``, ``apikey:``, ``api-key``, ``tokne``, ``secert``,
  ``private_key``, ``client_secret``, ``X-chkp-sid``): a mistyped key is exactly the one that the
  settings model does not know as secret, so it is the one that used to be echoed;
* ``Authorization:`` / ``Proxy-Authorization:`` header values (any scheme);
* userinfo in any URL (``https://TOKEN@host``, ``ssh://user:pw@host``), user name included: a
  token is often passed as the user part.

``is_secret_key(name)`` is the key test, also used where a value is shown next to its field
(config errors). Pure functions, no I/O, linear-time patterns (they run on every log line).
"""
from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["REDACTED", "is_secret_key", "redact", "redact_url"]

REDACTED = "<redacted>"

#: words that make a key secret; a key within one typo (edit distance 1) of one counts too
_WORDS = ("password", "passwd", "passphrase", "secret", "token", "apikey", "privatekey",
          "credential", "credentials", "authorization", "cookie", "sid", "pwd", "pass")
#: substrings that make a key secret wherever they appear in it (after removing _ - .)
_PARTS = ("passw", "pasw", "passwd", "secret", "token", "apikey", "privatekey", "credential",
          "authoriz", "bearer", "cookie", "sessionid", "chkpsid")
#: keys naming where a secret comes from, not the secret itself
_NOT_SECRET_SUFFIXES = ("_file", "_env", "file", "env", "path")

#: words that follow ``field:`` in our own messages (``pasword: unknown setting``): not values
_PROSE = frozenset({"unknown", "missing", "field", "must", "expected", "required", "cannot",
                    "invalid", "give", "not", "environment", "input", "value", "extra"})
_KEY_VALUE = re.compile(
    r"""(?P<key>[A-Za-z][A-Za-z0-9_.\-]{0,63})(?P<sep>["']?\s{0,3}[:=]\s{0,3}["']?)"""
    r"""(?=(?P<value>[^\s"',;&}\]]{1,4096}))""")
_AUTH_HEADER = re.compile(r"(?i)((?:proxy-)?authorization[\"']?\s{0,3}[:=]\s{0,3}[\"']?)"
                          r"[^\r\n\"',}]{1,4096}")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]{0,31}://)[^/\s@?#\"'<>]{1,1024}@")


def _within_one_edit(word: str, target: str) -> bool:
    """Levenshtein distance <= 1 (one insertion, deletion, substitution or transposition)."""
    if word == target:
        return True
    lw, lt = len(word), len(target)
    if abs(lw - lt) > 1:
        return False
    if lw == lt:
        diff = [i for i in range(lw) if word[i] != target[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and word[diff[0]] == target[diff[1]]
                                  and word[diff[1]] == target[diff[0]])
    short, long_ = (word, target) if lw < lt else (target, word)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def is_secret_key(name: str) -> bool:
    """True if a setting or field named ``name`` probably holds a secret."""
    lowered = name.lower().rsplit(".", 1)[-1]
    if lowered.endswith(_NOT_SECRET_SUFFIXES) and not lowered.endswith(("password", "secret")):
        return False
    compact = lowered.replace("_", "").replace("-", "")
    if any(part in compact for part in _PARTS):
        return True
    for word in re.split(r"[_\-]", lowered):
        if len(word) >= 4 and any(_within_one_edit(word, t) for t in _WORDS if len(t) >= 5):
            return True
        if word in ("pwd", "sid", "pass", "key") and word == lowered:
            return True
    return any(len(compact) >= 5 and _within_one_edit(compact, t) for t in _WORDS
               if len(t) >= 5)


def redact_url(url: str) -> str:
    """``url`` without userinfo (``https://<redacted>@host/...``)."""
    return _URL_USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", url)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secrets, secret-looking key values, Authorization header values and
    URL userinfo replaced by ``<redacted>``."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _AUTH_HEADER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _URL_USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", text)
    return _redact_key_values(text)


def _redact_key_values(text: str) -> str:
    """Values after secret-looking keys. The pattern consumes only ``key:`` (the value is a
    lookahead), so a key inside another value (``form=password=x``) is still found."""
    out: list[str] = []
    position = 0
    for match in _KEY_VALUE.finditer(text):
        value = match.group("value")
        if match.start() < position or value.startswith(REDACTED) or value in _PROSE:
            continue
        if is_secret_key(match.group("key")):
            out.append(text[position:match.end()])
            out.append(REDACTED)
            position = match.end() + len(match.group("value"))
    out.append(text[position:])
    return "".join(out)
