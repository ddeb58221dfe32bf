"""Parsing ``git log -z`` output: the field layout we ask git for, and an incremental parser.

Messages cannot contain NUL, so hostile commit text cannot forge a field boundary.
"""
from __future__ import annotations

import re

from ...identifiers import OBJECT_ID
from .records import GitCommit, GitError

_MARK = "\x1eC"
_SIG_MARK = "\x1eS"
_COMMIT_FIELDS = ("%H", "%P", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%s", "%b")
_N_FIELDS = len(_COMMIT_FIELDS)
LOG_FORMAT = "%x1eC%x00" + "%x00".join(_COMMIT_FIELDS) + "%x00"
_SIG_FORMAT = "%x1eS%x00%H%x00%G?%x00%GS%x00%GK%x00%GF%x00%GP%x00"
_STATUS_RE = re.compile(r"^[A-Z][0-9]{0,3}$")


def _clean(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    return re.sub(r"(https?://)[^/@\s]*@", r"\1***@", text).strip()


class LogParser:
    """Incremental parser of ``git log -z --format=LOG_FORMAT --name-status`` output.

    Layout per commit: the marker token, ``_N_FIELDS`` fields, an empty token (``-z``
    separator), then ``status, path`` pairs (the first status starts with a newline). The next
    commit starts with the marker; a path equal to the marker is consumed as a path because
    pairs are read together, so file names cannot desynchronise the parser."""

    __slots__ = ("_carry", "_fields", "_paths", "_tokens")

    def __init__(self) -> None:
        self._carry = b""
        self._tokens: list[str] = []
        self._fields: list[str] | None = None
        self._paths: list[tuple[str, str]] = []

    def feed(self, data: bytes) -> list[GitCommit]:
        data = self._carry + data
        cut = data.rfind(b"\0")
        if cut < 0:
            self._carry = data
            return []
        self._carry = data[cut + 1:]
        tokens = data[:cut].decode("utf-8", "replace").split("\0")
        if self._tokens:
            tokens = self._tokens + tokens
            self._tokens = []
        return self._parse(tokens, final=False)

    def close(self) -> list[GitCommit]:
        tokens = self._tokens
        if self._carry:
            tokens = tokens + [self._carry.decode("utf-8", "replace")]
        self._tokens, self._carry = [], b""
        out = self._parse(tokens, final=True)
        if self._fields is not None:
            out.append(self._emit())
        return out

    def _emit(self) -> GitCommit:
        f = self._fields
        assert f is not None
        commit = GitCommit(f[0], tuple(f[1].split()), f[2], f[3], f[4], f[5], f[6], f[7], f[8],
                           f[9], tuple(self._paths))
        self._fields, self._paths = None, []
        return commit

    def _parse(self, tokens: list[str], final: bool) -> list[GitCommit]:
        out: list[GitCommit] = []
        i, n = 0, len(tokens)
        while i < n:
            token = tokens[i]
            if token == _MARK:
                if i + _N_FIELDS >= n and not final:
                    self._tokens = tokens[i:]
                    return out
                if self._fields is not None:
                    out.append(self._emit())
                fields = tokens[i + 1:i + 1 + _N_FIELDS]
                if len(fields) < _N_FIELDS or not OBJECT_ID.match(fields[0]):
                    raise GitError("unexpected git log output (commit header)")
                self._fields = fields
                i += 1 + _N_FIELDS
                continue
            if token == "" or self._fields is None and token == "\n":
                i += 1
                continue
            if self._fields is None:
                raise GitError("unexpected git log output (no commit header)")
            status = token.lstrip("\n")
            if not _STATUS_RE.match(status):
                raise GitError(f"unexpected git log output (status {status[:20]!r})")
            if i + 1 >= n:
                if final:
                    raise GitError("unexpected end of git log output")
                self._tokens = tokens[i:]
                return out
            self._paths.append((status, tokens[i + 1]))
            i += 2
        return out
