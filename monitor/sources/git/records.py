"""What git tells us about a repository, as values: commits, signatures, tags.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ...errors import SourceError


class GitError(SourceError):
    """git failed, timed out, or printed something we could not parse."""


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
