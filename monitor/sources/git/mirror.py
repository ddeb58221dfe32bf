"""The bare mirror of a configured repository, and the cache of signature verdicts.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from .logparse import _clean
from .records import GitError, Signature
from .runner import Git, check_url

if TYPE_CHECKING:  # pragma: no cover
    from ...settings import GitRepoSource

log = logging.getLogger("monitor.sources.git")


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
