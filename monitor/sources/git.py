"""Git repositories as a change-evidence source. The only module that runs ``git``.

Entry point for the daemon (one call per configured repository and schedule tick)::

    stats = await sync_repo(cfg, store, writer, state, cache_dir)   # -> SyncStats

``sync_repo`` keeps a bare mirror of ``cfg.url`` in ``cache_dir/<name>.git`` (local paths are
mirrored too, so the monitor never writes into a user's repository), fetches it, and turns what
is new since the last run into ``changes`` documents: commits and merges per configured branch,
tags (created, moved, deleted), and a ``history_rewrite`` event when a branch's recorded tip is
no longer an ancestor of its new tip (force push; the range is rescanned from the merge base
and the old tip is kept reachable under ``refs/daemon/archive/``). Per-repository progress
(branch tips, tags) lives in the state index under ``git:<name>`` and is advanced only after the
documents are written, so a crash or an Elasticsearch outage repeats work instead of losing it
(stable ids make the repeat harmless). ``SyncStats`` carries the counters the metrics module reads.

Safety rules, all enforced here:

* git runs from argv lists, never a shell; revisions follow ``--end-of-options``, paths follow
  ``--``; refs are resolved to full SHAs (checked against a regex) before any other command
  sees them, and full refnames are used (``refs/heads/x``), never short names;
* hardened environment: no prompts, no askpass, no system or global config, no hooks, no
  fsmonitor, no replace objects, no mailmap; timeouts on every call;
* URL scheme allow-list: ``https://``, ``ssh://`` (or ``user@host:path``) and absolute local
  paths; ``ext::``-style transports, leading dashes, whitespace and passwords in URLs are
  refused; the protocol allow-list is also given to git itself;
* credentials (``GitRepoSource.token``) reach git through ``http.extraHeader`` in the
  environment (``GIT_CONFIG_*``), never in a URL that is stored or logged.

Reading is one streaming ``git log -z`` pass with NUL-separated fields (commit messages cannot
contain NUL, so hostile text cannot forge a field boundary), ``--name-status`` for changed
paths and ``--diff-merges=first-parent`` for merges. Signature verdicts (``%G?`` and friends)
come from a second pass over the new commits only and are cached per repository by SHA
(re-verified when the allowed-signers file changes). git does not check that the signer is the
committer: ``Signature.matches`` does.
"""
from __future__ import annotations

import asyncio
import base64
import fnmatch
import hashlib
import json
import logging
import os
import re
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConflictError, SourceError
from ..identifiers import OBJECT_ID

if TYPE_CHECKING:  # pragma: no cover
    from ..settings import GitRepoSource
    from ..store import BulkWriter, StateStore, Store

__all__ = [
    "STATS",
    "Git",
    "GitCommit",
    "GitError",
    "GitTag",
    "Mirror",
    "Signature",
    "SyncStats",
    "check_url",
    "redact_url",
    "sync_repo",
]

log = logging.getLogger(__name__)

_MARK = "\x1eC"
_SIG_MARK = "\x1eS"
_COMMIT_FIELDS = ("%H", "%P", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%s", "%b")
_N_FIELDS = len(_COMMIT_FIELDS)
LOG_FORMAT = "%x1eC%x00" + "%x00".join(_COMMIT_FIELDS) + "%x00"
_SIG_FORMAT = "%x1eS%x00%H%x00%G?%x00%GS%x00%GK%x00%GF%x00%GP%x00"
_STATUS_RE = re.compile(r"^[A-Z][0-9]{0,3}$")
#: environment variables passed through to git (everything else is dropped)
_ENV_KEEP = ("PATH", "HOME", "SSH_AUTH_SOCK", "TMPDIR", "SYSTEMROOT")


class GitError(SourceError):
    """git failed, timed out, or printed something we could not parse."""


# -- URLs ------------------------------------------------------------------------------------

_SCP_RE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!/)[^\s]+$")


def check_url(url: str) -> str:
    """Return ``"local"``, ``"https"`` or ``"ssh"``; raise ``GitError`` for anything else."""
    if not url or url.startswith("-") or "::" in url or any(c.isspace() or ord(c) < 32
                                                           for c in url):
        raise GitError(f"refused repository URL {redact_url(url)!r}: dash, '::' transport, "
                       "whitespace or control characters")
    if url.startswith("/"):
        return "local"
    if url.startswith("https://"):
        host = url[len("https://"):].split("/", 1)[0]
        if "@" in host:
            raise GitError("refused https URL with user info: give the token in settings "
                           "(token / token_env), not in the URL")
        return "https"
    if url.startswith("ssh://"):
        host = url[len("ssh://"):].split("/", 1)[0]
        if ":" in host.split("@")[0] and "@" in host:
            raise GitError("refused ssh URL with a password")
        if any(part.startswith("-") for part in host.split("@")):
            raise GitError("refused ssh URL whose user or host starts with '-' "
                           "(it would reach ssh as an option)")
        return "ssh"
    if _SCP_RE.match(url):
        if url.split("@", 1)[1].startswith("-"):
            raise GitError("refused ssh URL whose host starts with '-'")
        return "ssh"
    raise GitError(f"refused repository URL {redact_url(url)!r}: allowed are https://, ssh://, "
                   "user@host:path and absolute local paths")


def redact_url(url: str) -> str:
    """The URL with any user info replaced, for logs and documents."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1***@", url or "")


# -- records ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class GitCommit:
    sha: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    author_time: str
    committer_name: str
    committer_email: str
    committer_time: str
    subject: str
    body: str
    paths: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Signature:
    """``git log`` signature placeholders: ``%G?`` status, ``%GS`` signer, ``%GK`` key,
    ``%GF`` fingerprint, ``%GP`` primary key fingerprint."""

    status: str
    signer: str = ""
    key: str = ""
    fingerprint: str = ""
    primary_fingerprint: str = ""

    @property
    def signed(self) -> bool:
        return self.status not in ("N", "")

    @property
    def good(self) -> bool:
        return self.status == "G"

    def matches(self, committer_email: str) -> bool | None:
        """Whether the signer identity is the committer (git does not check this).

        SSH signers are allowed-signers principals (usually an e-mail address); GPG signers
        look like ``Name <mail>``. None when there is nothing to compare."""
        if not self.signed or not self.signer:
            return None
        signer = self.signer.strip()
        match = re.search(r"<([^<>]+)>\s*$", signer)
        if match:
            signer = match.group(1)
        return signer.casefold() == committer_email.strip().casefold()


@dataclass(frozen=True, slots=True)
class GitTag:
    ref: str
    object_sha: str
    object_type: str
    target_sha: str
    target_type: str
    tagger_name: str = ""
    tagger_email: str = ""
    date: str = ""
    subject: str = ""
    signed: bool = False

    @property
    def name(self) -> str:
        return self.ref.removeprefix("refs/tags/")

    @property
    def annotated(self) -> bool:
        return self.object_type == "tag"


@dataclass(slots=True)
class SyncStats:
    """Counters of one sync run; ``STATS`` keeps the running totals per source."""

    source: str
    kind: str = "git"
    documents: int = 0
    commits: int = 0
    tags: int = 0
    rewrites: int = 0
    gaps: int = 0
    indexed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    requests: int = 0
    not_modified: int = 0
    rate_limit_waits: int = 0
    rate_limit_wait_seconds: float = 0.0
    errors: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]

    def add_result(self, result: Any) -> None:
        self.indexed += result.indexed
        self.duplicates += result.duplicates
        self.dead_lettered += result.dead_lettered


#: running totals per source name (read by the metrics module; reset only by restart)
STATS: dict[str, SyncStats] = {}


def record_stats(stats: SyncStats) -> None:
    total = STATS.setdefault(stats.source, SyncStats(stats.source, stats.kind))
    for name in ("documents", "commits", "tags", "rewrites", "gaps", "indexed", "duplicates",
                 "dead_lettered", "requests", "not_modified", "rate_limit_waits",
                 "rate_limit_wait_seconds", "errors", "seconds"):
        setattr(total, name, getattr(total, name) + getattr(stats, name))


# -- running git -----------------------------------------------------------------------------

class Git:
    """Runs git against one bare repository with a hardened environment."""

    def __init__(self, git_dir: Path, *, timeout: float = 300.0,
                 protocols: Sequence[str] = ("https", "ssh"),
                 allowed_signers: Path | None = None,
                 extra_config: Sequence[tuple[str, str]] = (),
                 ssh_key_file: Path | None = None) -> None:
        self.git_dir = Path(git_dir)
        self.timeout = timeout
        self._config = [
            ("core.hooksPath", "/dev/null"), ("core.fsmonitor", "false"),
            ("core.askPass", ""), ("credential.helper", ""), ("log.showSignature", "false"),
            ("protocol.allow", "never"), ("transfer.fsckObjects", "true"),
            # a NUL in a message is parsed safely (-z); refusing it would let one crafted
            # commit stop the collection of a whole repository
            ("fetch.fsck.nulInCommit", "warn"),
            ("gc.auto", "0"), ("maintenance.auto", "false"),
            *((f"protocol.{p}.allow", "always") for p in protocols),
        ]
        if allowed_signers is not None:
            self._config.append(("gpg.ssh.allowedSignersFile", str(allowed_signers)))
        self._env = {k: os.environ[k] for k in _ENV_KEEP if k in os.environ}
        self._env.update({
            "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull, "GIT_ASKPASS": "", "SSH_ASKPASS": "",
            "GIT_NO_REPLACE_OBJECTS": "1", "GIT_ALLOW_PROTOCOL": ":".join(protocols),
            "LC_ALL": "C", "LANG": "C", "GIT_OPTIONAL_LOCKS": "0",
            "GIT_SSH_VARIANT": "ssh",
            "GIT_SSH_COMMAND": "ssh -o BatchMode=yes" + (
                f" -o IdentitiesOnly=yes -i '{_ssh_quote(ssh_key_file)}'" if ssh_key_file else ""),
        })
        if extra_config:  # secrets: environment only, never argv (visible in ps) or logs
            self._env["GIT_CONFIG_COUNT"] = str(len(extra_config))
            for i, (key, value) in enumerate(extra_config):
                self._env[f"GIT_CONFIG_KEY_{i}"] = key
                self._env[f"GIT_CONFIG_VALUE_{i}"] = value

    def argv(self, args: Sequence[str]) -> list[str]:
        argv = ["git", "--git-dir", str(self.git_dir)]
        for key, value in self._config:
            argv += ["-c", f"{key}={value}"]
        return argv + list(args)

    def run(self, args: Sequence[str], *, input: bytes | None = None,
            ok: tuple[int, ...] = (0,), timeout: float | None = None) -> subprocess.CompletedProcess[bytes]:
        argv = self.argv(args)
        try:
            done = subprocess.run(argv, input=input, capture_output=True, env=self._env,
                                  timeout=timeout or self.timeout, check=False,
                                  stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise GitError(f"git {args[0]} timed out after {exc.timeout:.0f}s") from None
        except OSError as exc:
            raise GitError(f"cannot run git: {exc.strerror}") from None
        if done.returncode not in ok:
            raise GitError(f"git {args[0]} failed ({done.returncode}): "
                           f"{_clean(done.stderr)[-500:]}")
        return done

    def stream(self, args: Sequence[str], *, input: bytes | None = None,
               chunk: int = 1 << 20) -> Iterator[bytes]:
        """Yield stdout in chunks; the deadline covers the whole stream."""
        deadline = time.monotonic() + self.timeout
        try:
            proc = subprocess.Popen(self.argv(args), stdout=subprocess.PIPE, env=self._env,
                                    stderr=subprocess.PIPE,
                                    stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL)
        except OSError as exc:
            raise GitError(f"cannot run git: {exc.strerror}") from None
        try:
            if input is not None:
                assert proc.stdin is not None
                import threading

                def feed() -> None:
                    try:
                        proc.stdin.write(input)  # type: ignore[union-attr]
                        proc.stdin.close()  # type: ignore[union-attr]
                    except OSError:
                        pass
                threading.Thread(target=feed, daemon=True).start()
            assert proc.stdout is not None
            while True:
                data = proc.stdout.read1(chunk)  # type: ignore[attr-defined]
                if not data:
                    break
                yield data
                if time.monotonic() > deadline:
                    raise GitError(f"git {args[0]} timed out after {self.timeout:.0f}s")
            stderr = proc.stderr.read() if proc.stderr else b""
            code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            if code != 0:
                raise GitError(f"git {args[0]} failed ({code}): {_clean(stderr)[-500:]}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for pipe in (proc.stdout, proc.stderr, proc.stdin):
                if pipe:
                    pipe.close()

    # -- queries ---------------------------------------------------------------------------

    def resolve(self, ref: str) -> str | None:
        """Full SHA of the commit ``ref`` names, or None. ``ref`` may be any hostile string."""
        done = self.run(["rev-parse", "--verify", "--quiet", "--end-of-options",
                         f"{ref}^{{commit}}"], ok=(0, 1, 128))
        sha = done.stdout.decode("ascii", "replace").strip()
        return sha if done.returncode == 0 and OBJECT_ID.match(sha) else None

    def has_commit(self, sha: str) -> bool:
        _sha(sha)
        return self.run(["cat-file", "-e", "--end-of-options", f"{sha}^{{commit}}"],
                        ok=(0, 1, 128)).returncode == 0

    def is_ancestor(self, old: str, new: str) -> bool:
        done = self.run(["merge-base", "--is-ancestor", "--end-of-options", _sha(old), _sha(new)],
                        ok=(0, 1))
        return done.returncode == 0

    def merge_base(self, a: str, b: str) -> str | None:
        done = self.run(["merge-base", "--end-of-options", _sha(a), _sha(b)], ok=(0, 1))
        sha = done.stdout.decode("ascii", "replace").strip()
        return sha if done.returncode == 0 and OBJECT_ID.match(sha) else None

    def heads(self) -> dict[str, str]:
        """``refs/heads/*`` → object SHA (names are untrusted; never pass them as options)."""
        done = self.run(["for-each-ref", "--format=%(refname)%00%(objectname)%00",
                         "refs/heads/"])
        out: dict[str, str] = {}
        for line in done.stdout.split(b"\n"):
            parts = line.split(b"\0")
            if len(parts) >= 2 and parts[0]:
                sha = parts[1].decode("ascii", "replace")
                if OBJECT_ID.match(sha):
                    out[parts[0].decode("utf-8", "replace")] = sha
        return out

    def tags(self) -> list[GitTag]:
        fmt = ("%(refname)%00%(objecttype)%00%(objectname)%00%(*objectname)%00%(*objecttype)"
               "%00%(taggername)%00%(taggeremail)%00%(taggerdate:iso-strict)"
               "%00%(creatordate:iso-strict)%00%(subject)%00"
               "%(if)%(contents:signature)%(then)1%(else)0%(end)%00")
        done = self.run(["for-each-ref", f"--format={fmt}", "refs/tags/"])
        tags = []
        for line in done.stdout.split(b"\0\n"):
            parts = line.decode("utf-8", "replace").split("\0")
            if len(parts) < 11 or not OBJECT_ID.match(parts[2]):
                continue
            ref, otype, obj, target, ttype, tname, temail, tdate, cdate, subject, signed = \
                parts[:11]
            if otype != "tag" or not OBJECT_ID.match(target):
                target, ttype = obj, otype
            tags.append(GitTag(ref, obj, otype, target, ttype, tname, temail.strip("<>"),
                               tdate or cdate, subject, otype == "tag" and signed == "1"))
        return tags

    def count(self, include: Sequence[str], exclude: Sequence[str] = (),
              since: str | None = None) -> int:
        args = ["rev-list", "--count"] + ([f"--since={since}"] if since else [])
        args += ["--end-of-options", *(_sha(s) for s in include),
                 *(f"^{_sha(s)}" for s in exclude), "--"]
        return int(self.run(args).stdout.strip() or 0)

    def first_parent(self, include: str, exclude: Sequence[str] = ()) -> set[str]:
        args = ["rev-list", "--first-parent", "--end-of-options", _sha(include),
                *(f"^{_sha(s)}" for s in exclude), "--"]
        out = bytearray()
        for data in self.stream(args):
            out += data
        return set(out.decode("ascii", "replace").split())

    def log_args(self, include: Sequence[str], exclude: Sequence[str] = (),
                 since: str | None = None) -> list[str]:
        args = ["log", "-z", "--no-color", "--no-decorate", "--no-use-mailmap", "--no-renames",
                "--name-status", "--diff-merges=first-parent", f"--format={LOG_FORMAT}"]
        if since:
            args.append(f"--since={since}")
        return args + ["--end-of-options", *(_sha(s) for s in include),
                       *(f"^{_sha(s)}" for s in exclude), "--"]

    def commits(self, include: Sequence[str], exclude: Sequence[str] = (),
                since: str | None = None) -> Iterator[GitCommit]:
        """Commits reachable from ``include`` and not from ``exclude``, newest first."""
        parser = LogParser()
        for data in self.stream(self.log_args(include, exclude, since)):
            yield from parser.feed(data)
        yield from parser.close()

    def signatures(self, shas: Sequence[str]) -> dict[str, Signature]:
        """Verify the signatures of ``shas`` (one git process; ~10 ms per signed commit)."""
        if not shas:
            return {}
        stdin = "".join(f"{_sha(s)}\n" for s in shas).encode()
        args = ["log", "-z", "--no-walk=unsorted", "--stdin", "--no-color",
                f"--format={_SIG_FORMAT}"]
        buf = bytearray()
        for data in self.stream(args, input=stdin):
            buf += data
        tokens = buf.decode("utf-8", "replace").split("\0")
        out: dict[str, Signature] = {}
        for i, token in enumerate(tokens):
            if token == _SIG_MARK and i + 6 < len(tokens) and OBJECT_ID.match(tokens[i + 1]):
                sha, status, signer, key, fpr, primary = tokens[i + 1:i + 7]
                out[sha] = Signature(status, signer, key, fpr, primary)
        return out

    def verify_tag(self, tag_object: str) -> Signature:
        """Verify a signed annotated tag (``git verify-tag --raw``); SSH and GPG output."""
        done = self.run(["verify-tag", "--raw", "--end-of-options", _sha(tag_object)],
                        ok=(0, 1, 128))
        text = _clean(done.stderr + done.stdout)
        signer = key = ""
        ssh = re.search(r'Good "git" signature (?:for (\S+) )?with \S+ key (\S+)', text)
        gpg = re.search(r"GOODSIG \S+ (.+)", text)
        fpr = re.search(r"VALIDSIG (\S+)", text)
        if ssh:
            signer, key = ssh.group(1) or "", ssh.group(2)
        elif gpg:
            signer, key = gpg.group(1).strip(), fpr.group(1) if fpr else ""
        if done.returncode == 0:
            return Signature("G", signer, key, key)
        if "No principal matched" in text or (ssh and not signer):
            return Signature("U", signer, key, key)
        if "EXPKEYSIG" in text or "EXPSIG" in text:
            return Signature("X" if "EXPSIG" in text else "Y", signer, key, key)
        if "BADSIG" in text or "Bad signature" in text or "Could not verify" in text:
            return Signature("B", signer, key, key)
        return Signature("E", signer, key, key)

    def update_ref(self, ref: str, sha: str) -> None:
        if not ref.startswith("refs/daemon/") or any(c.isspace() for c in ref):
            raise GitError(f"refusing to write ref {ref!r}")
        self.run(["update-ref", "--end-of-options", ref, _sha(sha)])


def _ssh_quote(path: Path) -> str:
    text = str(path)
    if "'" in text:
        raise GitError("ssh_key_file path must not contain a single quote")
    return text


def _sha(value: str) -> str:
    if not OBJECT_ID.match(value):
        raise GitError(f"not a full object id: {value[:80]!r}")
    return value


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


# -- mirrors ---------------------------------------------------------------------------------

class Mirror:
    """A bare mirror of one configured repository in the cache folder."""

    def __init__(self, cfg: GitRepoSource, cache_dir: Path) -> None:
        self.cfg = cfg
        self.scheme = check_url(cfg.url)
        self.path = Path(cache_dir) / f"{cfg.name}.git"
        extra: list[tuple[str, str]] = []
        token = getattr(cfg, "token", None)
        if token is not None and self.scheme == "https":
            user = getattr(cfg, "username", None) or "x-access-token"
            basic = base64.b64encode(f"{user}:{token.get_secret_value()}".encode()).decode()
            extra.append(("http.extraHeader", f"Authorization: Basic {basic}"))
        protocols = ("file",) if self.scheme == "local" else ("https", "ssh")
        self.git = Git(self.path, timeout=cfg.timeout_seconds, protocols=protocols,
                       allowed_signers=cfg.allowed_signers_file, extra_config=extra,
                       ssh_key_file=getattr(cfg, "ssh_key_file", None))

    def ensure(self) -> None:
        if not (self.path / "HEAD").exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            done = subprocess.run(["git", "init", "--quiet", "--bare", "--template=", "--", str(self.path)],
                                  env=self.git._env, capture_output=True, timeout=60, check=False)
            if done.returncode != 0:
                raise GitError(f"git init failed: {_clean(done.stderr)[-300:]}")
        # a changed URL or refspec takes effect on the next run
        want = (f"remote.origin.url {self.cfg.url}\n"
                "remote.origin.fetch +refs/heads/*:refs/heads/*\n"
                "remote.origin.fetch +refs/tags/*:refs/tags/*\n")
        have = self.git.run(["config", "--get-regexp", r"^remote\.origin\."], ok=(0, 1))
        if have.stdout.decode("utf-8", "replace") == want:
            return
        self.git.run(["config", "remote.origin.url", self.cfg.url])
        self.git.run(["config", "--replace-all", "remote.origin.fetch",
                      "+refs/heads/*:refs/heads/*"])
        self.git.run(["config", "--add", "remote.origin.fetch", "+refs/tags/*:refs/tags/*"])

    def fetch(self) -> None:
        self.git.run(["fetch", "--quiet", "--prune", "--no-tags", "--no-write-fetch-head",
                      "--no-recurse-submodules", "origin"])


# -- signature cache -------------------------------------------------------------------------

class SignatureCache:
    """Verdicts of signed commits by SHA, per repository, invalidated when the allowed-signers
    file changes. Unsigned commits are not cached: their check costs nothing."""

    def __init__(self, path: Path, signers_file: Path | None) -> None:
        self.path = path
        self.key = _file_hash(signers_file)
        self.verdicts: dict[str, list[str]] = {}
        self.dirty = False
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("signers") == self.key:
                self.verdicts = dict(data.get("verdicts", {}))
        except (OSError, ValueError, AttributeError):
            pass

    def get(self, sha: str) -> Signature | None:
        value = self.verdicts.get(sha)
        return Signature(*value) if value else None

    def put(self, sha: str, sig: Signature) -> None:
        if sig.signed:
            self.verdicts[sha] = [sig.status, sig.signer, sig.key, sig.fingerprint,
                                  sig.primary_fingerprint]
            self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"signers": self.key, "verdicts": self.verdicts}),
                       encoding="utf-8")
        os.replace(tmp, self.path)
        self.dirty = False


def _file_hash(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


# -- planning a sync -------------------------------------------------------------------------

@dataclass(slots=True)
class BranchPlan:
    ref: str
    new: str
    old: str | None
    include: str
    exclude: list[str]
    rewrite: bool = False
    merge_base: str | None = None
    total: int = 0


def select_branches(heads: dict[str, str], patterns: Sequence[str],
                    protected: Sequence[str]) -> list[str]:
    """Full refnames of the heads matching ``patterns`` (exact names or fnmatch globs),
    protected branches first, then by name."""
    chosen = []
    for ref in heads:
        short = ref.removeprefix("refs/heads/")
        if any(short == p or fnmatch.fnmatchcase(short, p) for p in patterns):
            chosen.append(ref)
    return sorted(chosen, key=lambda r: (r.removeprefix("refs/heads/") not in protected, r))


def plan_branches(git: Git, refs: Sequence[str], tips: dict[str, str],
                  since: str | None, count: bool = True) -> list[BranchPlan]:
    plans: list[BranchPlan] = []
    done_tips: list[str] = []
    for ref in refs:
        new = git.resolve(ref)
        if new is None:
            log.warning("branch %r does not point at a commit; skipped", ref[:200])
            continue
        old = tips.get(ref)
        plan = BranchPlan(ref, new, old, new, [])
        if old == new:
            done_tips.append(new)
            plan.exclude = [new]
            plans.append(plan)
            continue
        if old and OBJECT_ID.match(old):
            if git.has_commit(old) and git.is_ancestor(old, new):
                plan.exclude = [old]
            else:
                plan.rewrite = True
                plan.merge_base = git.merge_base(old, new) if git.has_commit(old) else None
                plan.exclude = [plan.merge_base] if plan.merge_base else []
        plan.exclude += [t for t in done_tips if t not in plan.exclude]
        if count:  # only for a progress bar: one more walk
            plan.total = git.count([new], plan.exclude, since if not old else None)
        done_tips.append(new)
        plans.append(plan)
    return plans


def diff_tags(old: dict[str, list[str]], tags: list[GitTag]) -> tuple[
        list[GitTag], list[tuple[GitTag, list[str]]], list[tuple[str, list[str]]]]:
    """(created, moved [(tag, old [object, target])], deleted [(ref, old)])."""
    created, moved = [], []
    now = {t.ref: t for t in tags}
    for tag in tags:
        previous = old.get(tag.ref)
        if previous is None:
            created.append(tag)
        elif previous[0] != tag.object_sha:
            moved.append((tag, previous))
    deleted = [(ref, value) for ref, value in sorted(old.items()) if ref not in now]
    return created, moved, deleted


# -- the sync --------------------------------------------------------------------------------

ProgressFn = Callable[[int, int], None]


async def sync_repo(cfg: GitRepoSource, store: Store, writer: BulkWriter,
                    state: StateStore, cache_dir: Path | None = None, *,
                    since: str | None = None,
                    progress: ProgressFn | None = None, batch: int = 5000,
                    now: datetime | None = None) -> SyncStats:
    """Fetch ``cfg``'s mirror and index what changed since the last run (see module doc).

    ``cache_dir`` defaults to ``cfg.mirror_dir``; ``since`` (ISO date) limits a first import;
    ``progress(done, total)`` is called per batch."""
    from ..normalize import changes

    del store  # documents go through the writer, progress through the state store
    cache_dir = Path(cache_dir if cache_dir is not None else cfg.mirror_dir)

    started = time.monotonic()
    stats = SyncStats(cfg.name, "git")
    detected = (now or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    key = f"git:{cfg.name}"
    try:
        mirror = Mirror(cfg, Path(cache_dir))
        await asyncio.to_thread(mirror.ensure)
        await asyncio.to_thread(mirror.fetch)
        git = mirror.git
        current = await state.get(key)
        value = dict(current.value) if current else {}
        tips: dict[str, str] = dict(value.get("branches") or {})
        old_tags: dict[str, list[str]] = dict(value.get("tags") or {})
        heads = await asyncio.to_thread(git.heads)
        refs = select_branches(heads, cfg.branches, cfg.protected_branches)
        if not refs:
            stats.warnings.append(f"no branch matches {cfg.branches}")
            log.warning("git %s: no branch matches %s", cfg.name, cfg.branches)
        gone = sorted(ref for ref in tips if ref not in heads)
        if gone:
            stats.warnings.append(f"{len(gone)} recorded branch(es) no longer exist")
            log.warning("git %s: branches gone since the last run: %s", cfg.name,
                        ", ".join(r[:100] for r in gone[:10]))
        plans = await asyncio.to_thread(plan_branches, git, refs, tips, since,
                                        progress is not None)
        tags = await asyncio.to_thread(git.tags) if cfg.tags else []
        cache = SignatureCache(Path(cache_dir) / f"{cfg.name}.signatures.json",
                               cfg.allowed_signers_file)
        source = changes.RepoInfo(cfg.name, redact_url(cfg.url) if mirror.scheme != "local"
                                  else cfg.url, ticket_pattern=cfg.ticket_pattern)
        total = sum(p.total for p in plans)
        done = 0

        events: list[Any] = []
        for plan in plans:
            if plan.rewrite:
                assert plan.old is not None
                events.append(changes.rewrite_document(source, plan.ref, plan.old, plan.new,
                                                       plan.merge_base, detected))
                stats.rewrites += 1
                # keep the rewritten commits reachable in the mirror (evidence, CHK-08)
                ref_hash = hashlib.sha256(plan.ref.encode()).hexdigest()[:12]
                archive = f"refs/daemon/archive/{ref_hash}/{plan.old}"
                if await asyncio.to_thread(git.has_commit, plan.old):
                    await asyncio.to_thread(git.update_ref, archive, plan.old)
                log.warning("git %s: history rewritten on %s (%s -> %s)", cfg.name,
                            plan.ref[:200], plan.old[:12], plan.new[:12])
        if cfg.tags:
            created, moved, deleted = diff_tags(old_tags, tags)
            for tag in created + [t for t, _ in moved]:  # a moved tag is also a new tag
                sig = await asyncio.to_thread(git.verify_tag, tag.object_sha) \
                    if tag.signed else None
                events.append(changes.tag_document(source, tag, sig))
            for tag, previous in moved:
                events.append(changes.tag_moved_document(source, tag, previous, detected))
            for ref, previous in deleted:
                events.append(changes.tag_deleted_document(source, ref, previous, detected))
            stats.tags += len(created)
            stats.rewrites += len(moved) + len(deleted)
            if moved or deleted:
                log.warning("git %s: %d tag(s) moved, %d deleted", cfg.name, len(moved),
                            len(deleted))

        def produce() -> Iterator[list[Any]]:
            """Runs in a worker thread: git, parsing and document building, batch by batch."""
            for plan in plans:
                if plan.include in plan.exclude:
                    continue
                for chunk in _batches(git, cache, plan, since if not plan.old else None, batch):
                    yield [changes.commit_document(source, plan.ref, commit, sig,
                                                   mainline=mainline)
                           for commit, sig, mainline in chunk]

        async def counted():
            nonlocal done
            for doc in events:
                stats.documents += 1
                yield doc
            batches = _prefetch(produce) if PREFETCH else _inline(produce)
            async for docs in batches:
                for doc in docs:
                    yield doc
                stats.commits += len(docs)
                stats.documents += len(docs)
                done += len(docs)
                if progress:
                    progress(done, total)

        result = await writer.write(counted(), label=f"git:{cfg.name}")
        stats.add_result(result)
        await asyncio.to_thread(cache.save)
        value = {"branches": {**tips, **{p.ref: p.new for p in plans}},
                 "tags": {t.ref: [t.object_sha, t.target_sha] for t in tags} if cfg.tags
                 else old_tags,
                 "url": source.url, "synced_at": detected}
        try:
            await state.put(key, value, current)
        except ConflictError:
            raise GitError(f"git {cfg.name}: another instance synced this repository "
                           "concurrently; state not advanced") from None
    except SourceError:
        stats.errors += 1
        raise
    finally:
        stats.seconds = time.monotonic() - started
        record_stats(stats)
    return stats


#: build documents in a worker thread ahead of indexing (False: in the event loop, batch by
#: batch, git and parsing still in a thread)
PREFETCH = True


async def _inline(produce: Callable[[], Iterator[list[Any]]]) -> AsyncIterator[list[Any]]:
    iterator = produce()
    try:
        while True:
            item = await asyncio.to_thread(next, iterator, None)
            if item is None:
                return
            yield item
    finally:
        await asyncio.to_thread(iterator.close)  # type: ignore[attr-defined]


async def _prefetch(produce: Callable[[], Iterator[list[Any]]], depth: int = 2
                    ) -> AsyncIterator[list[Any]]:
    """Run the ``produce`` generator in a thread, ``depth`` batches ahead of the consumer, so
    git and parsing overlap with indexing. Stopping early stops the thread (and its git)."""
    import threading

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item: Any) -> bool:
        future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
        while not stop.is_set():
            try:
                future.result(timeout=0.5)
                return True
            except TimeoutError:
                continue
        future.cancel()
        return False

    def work() -> None:
        iterator = produce()
        try:
            for item in iterator:
                if not put(item):
                    return
            put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(exc)
        finally:
            close = getattr(iterator, "close", None)
            if close:
                close()

    thread = threading.Thread(target=work, name="git-produce", daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while not queue.empty():
            queue.get_nowait()
        await asyncio.to_thread(thread.join, 30)


def _batches(git: Git, cache: SignatureCache, plan: BranchPlan, since: str | None,
             size: int) -> Iterator[list[tuple[GitCommit, Signature | None, bool]]]:
    """(commit, signature, on the first-parent line) in batches of ``size``.

    Three git processes overlap: the first-parent walk, the ``git log`` stream and the
    signature pass of the previous batch (on a second core, while this one is parsed)."""
    from concurrent.futures import Future, ThreadPoolExecutor

    def verify(batch: list[GitCommit]) -> dict[str, Signature]:
        return git.signatures([c.sha for c in batch if cache.get(c.sha) is None])

    def finish(batch: list[GitCommit], found: Future[dict[str, Signature]],
               mainline: set[str]) -> list[tuple[GitCommit, Signature | None, bool]]:
        verdicts = found.result()
        out = []
        for commit in batch:
            sig = cache.get(commit.sha) or verdicts.get(commit.sha)
            if sig is not None:
                cache.put(commit.sha, sig)
            out.append((commit, sig, commit.sha in mainline))
        return out

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="git") as pool:
        walk = pool.submit(git.first_parent, plan.include, plan.exclude)
        previous: tuple[list[GitCommit], Future[dict[str, Signature]]] | None = None
        pending: list[GitCommit] = []
        try:
            for commit in git.commits([plan.include], plan.exclude, since):
                pending.append(commit)
                if len(pending) >= size:
                    future = pool.submit(verify, pending)
                    if previous is not None:
                        yield finish(*previous, walk.result())
                    previous, pending = (pending, future), []
            if previous is not None:
                yield finish(*previous, walk.result())
            if pending:
                yield finish(pending, pool.submit(verify, pending), walk.result())
        finally:
            walk.cancel()
