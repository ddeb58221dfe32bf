"""Files at rest and hostile inputs to the renderers: reports and spool files are 0640 unless
configured; a YAML alias bomb in a rule is refused with file:line before anything expands it;
Chromium prints attacker-supplied report text sandboxed, as an unprivileged user when we are
root, or the PDF feature says why it cannot."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.model import RawRecord
from monitor.reports.pdf import ChromiumError, chromium_flags, html_to_pdf
from monitor.reports.render import write_atomic
from monitor.settings import SpoolSettings, settings_from_dict
from monitor.sources.spool import DiskSpool
from monitor.yamlio import YamlError, load_yaml

ROOT = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_reports_and_spool_files_are_0640_by_default(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "r" / "report.html", b"<p>x</p>")
        write_atomic(tmp_path / "r" / "strict.json", b"{}", mode=0o600)
        spool = DiskSpool(SpoolSettings(dir=tmp_path / "spool"))
        spool.append([RawRecord("s", b"line", datetime.now(UTC))])
        batch = next(spool.read_batches())
        spool.commit(batch)  # writes the offset file too
        spool.append([RawRecord("s", b"line2", datetime.now(UTC))])
        spool.close()
    finally:
        os.umask(old)
    assert _mode(tmp_path / "r" / "report.html") == 0o640
    assert _mode(tmp_path / "r" / "strict.json") == 0o600
    files = [p for p in (tmp_path / "spool" / "syslog").iterdir()]
    assert files and all(_mode(p) == 0o640 for p in files), [(p.name, oct(_mode(p))) for p in files]
    assert settings_from_dict({"reports": {"file_mode": 0o600}}).reports.file_mode == 0o600
    assert settings_from_dict({"reports": {"file_mode": "0640"}}).reports.file_mode == 0o640
    with pytest.raises(ConfigError, match="world-writable"):
        settings_from_dict({"sources": {"syslog": {"spool": {"file_mode": 0o666}}}})


def _bomb(levels: int = 8) -> str:
    text = 'id: bomb\nname: bomb\na: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    previous = "a"
    for level in range(levels):
        name = f"l{level}"
        text += f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]\n"
        previous = name
    return text


def test_yaml_alias_bomb_is_refused_with_file_and_line(tmp_path: Path) -> None:
    rule = tmp_path / "rules" / "bomb.yaml"
    rule.parent.mkdir()
    rule.write_text(_bomb())
    assert len(rule.read_bytes()) < 2000
    started = time.monotonic()
    with pytest.raises(YamlError) as refused:
        load_yaml(rule)
    assert f"{rule}:" in str(refused.value) and "alias" in str(refused.value)
    assert time.monotonic() - started < 5
    done = subprocess.run([sys.executable, "-m", "monitor.cli.main", "rules", "validate",
                           str(rule.parent)], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, check=False)
    assert done.returncode != 0 and "alias" in done.stdout + done.stderr
    # anchors used with restraint (a control shares one query) still load
    assert load_yaml(ROOT / "rules" / "pci" / "controls" / "CHK-21.yaml")["id"] == "CHK-21"


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder the unprivileged account can reach (pytest's tmp folders are root-only)."""
    folder = Path(tempfile.mkdtemp(prefix="monitor-test-pdf-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _fake_chromium(folder: Path, body: str) -> Path:
    script = folder / "fake-chromium"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return script


async def test_pdf_chromium_is_sandboxed_and_unprivileged(tmp_path: Path,
                                                           shared_dir: Path) -> None:
    record = shared_dir / "record.txt"
    record.touch()
    record.chmod(0o666)
    html = tmp_path / "report.html"
    html.write_text("<h1>hostile &lt;script&gt;</h1>")
    fake = _fake_chromium(shared_dir, f"""
id -u > {record}
echo "$@" >> {record}
for arg in "$@"; do case "$arg" in --print-to-pdf=*) printf '%%PDF-1.4 fake' > "${{arg#--print-to-pdf=}}";; esac; done
""")
    await html_to_pdf(html, tmp_path / "report.pdf", fake)
    uid, argv = record.read_text().splitlines()[:2]
    assert "--no-sandbox" not in argv.split()
    if os.geteuid() == 0:
        assert uid != "0"  # dropped to the unprivileged account
    assert _mode(tmp_path / "report.pdf") == 0o640
    assert "--no-sandbox" in chromium_flags("p") and "--no-sandbox" not in chromium_flags(
        "p", sandbox=True)


async def test_pdf_says_why_when_the_sandbox_cannot_start(tmp_path: Path,
                                                          shared_dir: Path) -> None:
    html = tmp_path / "report.html"
    html.write_text("<p>x</p>")
    fake = _fake_chromium(shared_dir, "echo 'FATAL: No usable sandbox! ...' >&2\nexit 1\n")
    with pytest.raises(ChromiumError, match="PDF disabled: Chromium's sandbox cannot start"):
        await html_to_pdf(html, tmp_path / "report.pdf", fake)
    assert not (tmp_path / "report.pdf").exists()


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="chromium not installed")
async def test_pdf_with_the_real_chromium_sandboxed(tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    html.write_text("<h1>report</h1><p>" + "&lt;img src=x onerror=alert(1)&gt;" * 20 + "</p>")
    html.chmod(0o600)  # only we can read it: Chromium gets its own copy
    await html_to_pdf(html, tmp_path / "report.pdf")
    assert (tmp_path / "report.pdf").read_bytes()[:5] == b"%PDF-"
