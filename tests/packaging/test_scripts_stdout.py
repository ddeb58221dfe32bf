"""Helper scripts keep stdout for their result: whatever a child prints goes to stderr.

On a fresh machine ``mvn dependency:get`` writes ANSI resets to stdout even with ``-q -B``;
``scripts/demo`` and ``scripts/test`` capture ``scripts/elasticsearch start``'s stdout as the URL,
so one stray byte there broke both README commands. A stand-in ``mvn`` that prints junk proves
the property for the path a fresh machine takes (fetch, unpack, start).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "elasticsearch"
ARTIFACT = Path("org/elasticsearch/distribution/integ-test-zip/elasticsearch")
JUNK = "\x1b[0m\x1b[0m[INFO] Downloading from central: https://repo.example/x.zip\n\x1b[1;31mjunk\x1b[0m\n"


def _real_zip() -> Path:
    """The distribution the session already fetched (scripts/test starts Elasticsearch first)."""
    repo = Path(os.environ.get("MONITOR_M2_REPO") or Path.home() / ".m2" / "repository")
    version = os.environ.get("MONITOR_ES_VERSION", "9.5.4")
    zip_path = repo / ARTIFACT / version / f"elasticsearch-{version}.zip"
    if not zip_path.exists():
        # fetch it through the script itself, as a fresh machine would
        subprocess.run([sys.executable, str(SCRIPT), "fetch"], check=True,
                       stdout=subprocess.DEVNULL)
    assert zip_path.exists(), f"no Elasticsearch distribution at {zip_path}"
    return zip_path


def _stand_in_mvn(bin_dir: Path, real_zip: Path) -> None:
    """An ``mvn`` that prints junk to stdout and 'downloads' by copying the real zip."""
    bin_dir.mkdir()
    mvn = bin_dir / "mvn"
    mvn.write_text(
        f"#!{sys.executable}\n"
        "import shutil, sys\n"
        f"sys.stdout.write({JUNK!r})\n"
        "sys.stdout.flush()\n"
        "repo = next(a.split('=', 1)[1] for a in sys.argv if a.startswith('-Dmaven.repo.local='))\n"
        "art = next(a.split('=', 1)[1] for a in sys.argv if a.startswith('-Dartifact='))\n"
        "version = art.split(':')[2]\n"
        f"dest = __import__('pathlib').Path(repo) / {str(ARTIFACT)!r} / version\n"
        "dest.mkdir(parents=True, exist_ok=True)\n"
        f"shutil.copy({str(real_zip)!r}, dest / f'elasticsearch-{{version}}.zip')\n"
        "print('\\x1b[0m[INFO] BUILD SUCCESS')\n"
    )
    mvn.chmod(mvn.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True,
                          text=True, timeout=600, check=False)


@pytest.fixture
def unpack_root() -> Iterator[Path]:
    """A folder the unprivileged Elasticsearch user can traverse (pytest's tmp_path is 0700)."""
    root = Path(tempfile.mkdtemp(prefix="monitor-stdout-", dir="/var/tmp"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_start_prints_only_the_url_and_json_when_mvn_is_noisy(unpack_root: Path) -> None:
    tmp_path = unpack_root
    real_zip = _real_zip()
    _stand_in_mvn(tmp_path / "bin", real_zip)
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
           "MONITOR_M2_REPO": str(tmp_path / "m2"), "MONITOR_CACHE_DIR": str(cache),
           "MONITOR_ES_HEAP": "512m"}
    name = "stdout-probe"
    try:
        started = _run(["start", "--name", name], env)
        assert started.returncode == 0, started.stderr[-2000:]
        # the stand-in did run (its junk reached stderr), and stdout is exactly one URL
        assert "BUILD SUCCESS" in started.stderr
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+\n", started.stdout), repr(started.stdout)

        # again from an empty Maven repository and unpack folder, this time as JSON
        _run(["stop", "--name", name], env)
        for sub in (tmp_path / "m2", cache):
            subprocess.run(["rm", "-rf", str(sub)], check=True)
        cache.mkdir()
        cache.chmod(0o755)
        started = _run(["start", "--name", name, "--json"], env)
        assert started.returncode == 0, started.stderr[-2000:]
        assert "BUILD SUCCESS" in started.stderr
        record = json.loads(started.stdout)
        assert record["url"].startswith("http://127.0.0.1:")
        assert started.stdout.count("\n") == 1
    finally:
        _run(["stop", "--name", name], env)
