"""Running git: the only place a ``git`` process starts.

argv lists, never a shell; revisions after ``--end-of-options``; a hardened environment (no
prompts, no system or global config, no hooks); a URL scheme allow-list; timeouts on every call.
"""
from __future__ import annotations

import logging
import os
import re
import subprocess
import time
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path

from ...identifiers import OBJECT_ID
from .logparse import _SIG_FORMAT, _SIG_MARK, LOG_FORMAT, LogParser, _clean
from .records import GitCommit, GitError, GitTag, Signature

log = logging.getLogger("monitor.sources.git")




#: environment variables passed through to git (everything else is dropped)
_ENV_KEEP = ("PATH", "HOME", "SSH_AUTH_SOCK", "TMPDIR", "SYSTEMROOT")


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
                        proc.stdin.write(input)  # type: ignore[union-attr]  # stdin is a pipe: Popen was given PIPE
                        proc.stdin.close()  # type: ignore[union-attr]  # stdin is a pipe: Popen was given PIPE
                    except OSError:
                        pass
                threading.Thread(target=feed, daemon=True).start()
            assert proc.stdout is not None
            while True:
                data = proc.stdout.read1(chunk)  # type: ignore[attr-defined]  # stdout is a BufferedReader: Popen was given PIPE
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
                 since: str | None = None, *, skip: int = 0,
                 date_order: bool = False) -> list[str]:
        """``date_order``: no commit before all of its children (``--date-order``), so what
        was read is closed under descendants; ``skip``: leave out the first ``skip`` commits
        (git walks them but builds no diff), to continue an interrupted read."""
        args = ["log", "-z", "--no-color", "--no-decorate", "--no-use-mailmap", "--no-renames",
                "--name-status", "--diff-merges=first-parent", f"--format={LOG_FORMAT}"]
        if since:
            args.append(f"--since={since}")
        if date_order:
            args.append("--date-order")
        if skip:
            args.append(f"--skip={int(skip)}")
        return args + ["--end-of-options", *(_sha(s) for s in include),
                       *(f"^{_sha(s)}" for s in exclude), "--"]

    def commits(self, include: Sequence[str], exclude: Sequence[str] = (),
                since: str | None = None, *, skip: int = 0,
                date_order: bool = False) -> Generator[GitCommit, None, None]:
        """Commits reachable from ``include`` and not from ``exclude``, newest first."""
        parser = LogParser()
        for data in self.stream(self.log_args(include, exclude, since, skip=skip,
                                              date_order=date_order)):
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
