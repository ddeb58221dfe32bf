"""What a run of a repository reads: the branch plans, the tag changes, and where a first
import that spans several pages stands (``Position``, kept in the cursor between pages).
"""
from __future__ import annotations

import fnmatch
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...identifiers import OBJECT_ID
from .records import GitTag
from .runner import Git

log = logging.getLogger("monitor.sources.git")

__all__ = ["BranchPlan", "Pin", "Position", "diff_tags", "plan_branches", "select_branches"]


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
    """A plan per branch: from its recorded tip (or a merge base after a rewrite) to its tip
    now, leaving out what an earlier branch of the run already covers."""
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


# -- where a run stands ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Pin:
    """One branch still to read, pinned when the run was planned: its tip then (``new``), what
    to leave out and the first-import date limit. Later pushes wait for the next plan."""

    ref: str
    new: str
    exclude: tuple[str, ...]
    since: str | None = None

    def shas(self) -> tuple[str, ...]:
        return (self.new, *self.exclude)


@dataclass(frozen=True, slots=True)
class Position:
    """Where the next page starts: the branches still to read (the first one in progress),
    how many of its commits were read (``done``, in ``git log --date-order`` order, which is
    fixed for pinned SHAs) and the next commit of its first-parent line (``mainline``; with
    that order every commit comes after its children, so the line is followed page by page
    from the commits' own parents, never walked whole)."""

    plans: tuple[Pin, ...]
    done: int = 0
    mainline: str | None = None

    @classmethod
    def start(cls, plans: Sequence[Pin]) -> Position | None:
        """The position before the first of ``plans`` (None when there is nothing to read)."""
        return cls(tuple(plans), 0, plans[0].new) if plans else None

    def as_json(self) -> dict[str, Any]:
        return {"plans": [{"ref": p.ref, "new": p.new, "exclude": list(p.exclude),
                           "since": p.since} for p in self.plans],
                "done": self.done, "mainline": self.mainline}

    @classmethod
    def from_json(cls, value: Any) -> Position | None:
        """The position a cursor holds; None when it holds none or one we cannot trust (then
        the run is planned afresh from the recorded tips: a repeat, never a loss)."""
        if not isinstance(value, dict):
            return None
        plans, done, mainline = value.get("plans"), value.get("done"), value.get("mainline")
        if not isinstance(plans, list) or not plans or type(done) is not int or done < 0 \
                or not (mainline is None or _sha(mainline)):
            return None
        pins = []
        for item in plans:
            if not isinstance(item, dict):
                return None
            ref, new, exclude, since = (item.get("ref"), item.get("new"), item.get("exclude"),
                                        item.get("since"))
            if not isinstance(ref, str) or not ref.startswith("refs/heads/") or not _sha(new) \
                    or not isinstance(exclude, list) or not all(_sha(s) for s in exclude) \
                    or not (since is None or isinstance(since, str)):
                return None
            pins.append(Pin(ref, str(new), tuple(str(s) for s in exclude), since))
        return cls(tuple(pins), done, mainline)


def _sha(value: Any) -> bool:
    return isinstance(value, str) and OBJECT_ID.match(value) is not None
