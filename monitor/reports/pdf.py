"""PDF through headless Chromium (``--print-to-pdf``), only when asked.

Chromium comes from the distribution (``apt-get install chromium``); its path is
``reports.chromium`` in the settings. It runs with a throw-away profile, no network
features, and a timeout; the report's own CSP already forbids any request.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import MonitorError

__all__ = ["ChromiumError", "chromium_flags", "html_to_pdf"]


class ChromiumError(MonitorError):
    """Chromium is missing or failed to print."""


def chromium_flags(profile: str) -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--disable-default-apps", "--mute-audio",
            f"--user-data-dir={profile}"]


async def html_to_pdf(html: Path, pdf: Path, chromium: Path = Path("/usr/bin/chromium"),
                      timeout: float = 120.0) -> None:
    """Print ``html`` to ``pdf`` (written to a temporary name, then renamed)."""
    binary = str(chromium) if chromium.exists() else shutil.which(str(chromium))
    if not binary:
        raise ChromiumError(f"chromium not found at {chromium} (apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="monitor-chromium-")
    fd, tmp = tempfile.mkstemp(prefix=f".{pdf.name}.", suffix=".tmp", dir=pdf.parent)
    os.close(fd)
    try:
        process = await asyncio.create_subprocess_exec(
            binary, *chromium_flags(profile), "--no-pdf-header-footer",
            f"--print-to-pdf={tmp}", html.resolve().as_uri(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={"HOME": profile, "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        try:
            _, err = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise ChromiumError(f"chromium did not print {html.name} within {timeout:.0f}s") from None
        if process.returncode != 0 or os.path.getsize(tmp) == 0:
            raise ChromiumError(f"chromium failed to print {html.name} (exit {process.returncode}): "
                                f"{err.decode(errors='replace')[-500:]}")
        os.replace(tmp, pdf)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        shutil.rmtree(profile, ignore_errors=True)
