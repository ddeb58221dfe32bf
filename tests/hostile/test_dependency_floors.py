"""Dependency floors stay above the versions with known vulnerabilities (the lock file and the
audit in CI pin and check what is installed; this keeps the declared range honest too)."""
from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]

#: first fixed version of each dependency with a known CVE in older releases
FIXED = {"orjson": "3.9.15", "jinja2": "3.1.6", "cryptography": "44.0.1", "tqdm": "4.66.3",
         "aiosmtpd": "1.4.6", "h11": "0.16.0"}


def test_floors_exclude_known_vulnerable_versions() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [Requirement(text) for text in project["dependencies"]
                + project["optional-dependencies"]["test"]]
    floors: dict[str, Version] = {}
    for requirement in declared:
        lows = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==")]
        if lows:
            floors[requirement.name.lower()] = max(lows)
    for name, fixed in FIXED.items():
        assert name in floors, f"{name} has no floor"
        assert floors[name] >= Version(fixed), f"{name}>={floors[name]} admits a vulnerable release"
