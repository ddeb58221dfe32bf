"""requirements.lock (what scripts/bootstrap installs, with hashes) agrees with pyproject.toml:
every dependency of the project and its test and lint extras is pinned there at a version the project
accepts, with hashes. A dependency added without ``scripts/lock`` fails here, not on a user's
machine."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> dict[str, str]:
    text = (ROOT / "requirements.lock").read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", text, re.MULTILINE))
    assert text.count("--hash=sha256:") >= len(pins) > 0
    return {_canonical(k): v for k, v in pins.items()}


def test_lock_pins_every_declared_dependency_at_an_accepted_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    declared = [Requirement(r) for r in project["dependencies"] + extras["test"] + extras["lint"]]
    locked = _locked()
    problems = []
    for req in declared:
        version = locked.get(_canonical(req.name))
        if version is None:
            problems.append(f"{req.name}: not in requirements.lock (run scripts/lock)")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req.name}: locked {version} outside {req.specifier}")
    assert problems == []


def test_no_locked_version_is_a_known_vulnerable_one() -> None:
    """The offline half of the dependency audit: deploy/security/advisories.txt against the lock
    (scripts/audit adds pip-audit's online database where PyPI's advisory API is reachable)."""
    locked = _locked()
    lines = [line.split(None, 1) for line in
             (ROOT / "deploy" / "security" / "advisories.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert len(lines) >= 6
    hits = []
    for spec, advisories in lines:
        vulnerable = Requirement(spec)
        version = locked.get(_canonical(vulnerable.name))
        if version is not None and vulnerable.specifier.contains(version, prereleases=True):
            hits.append(f"{vulnerable.name}=={version}: {advisories}")
    assert hits == []
