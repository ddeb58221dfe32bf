"""PDF through headless Chromium (``--print-to-pdf``), only when asked.

Chromium comes from the distribution (``apt-get install chromium``); its path is
``reports.chromium`` in the settings. It runs with a throw-away profile, no network
features, a timeout and its sandbox on: as ``nobody`` when the monitor runs as root (the
rendered text comes from log lines, i.e. from attackers); the report's own CSP already forbids
any request.
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


def chromium_flags(profile: str, *, sandbox: bool = False) -> list[str]:
    """Flags for a throw-away headless Chromium. ``sandbox=False`` (``--no-sandbox``) is for
    the tests' own pages only; reports (attacker-supplied log text) print sandboxed."""
    return ["--headless", *([] if sandbox else ["--no-sandbox"]), "--disable-gpu",
            "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--disable-default-apps", "--mute-audio",
            f"--user-data-dir={profile}"]


#: the unprivileged account Chromium runs as when the monitor runs as root (Chromium's
#: sandbox refuses root, and --no-sandbox would render attacker-supplied text unconfined)
SANDBOX_USER = "nobody"


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) to drop to when we are root, else None (already unprivileged)."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(SANDBOX_USER)
    except KeyError:
        raise ChromiumError(f"PDF disabled: running as root and there is no user "
                            f"{SANDBOX_USER!r} to run Chromium sandboxed as") from None
    return entry.pw_uid, entry.pw_gid


async def html_to_pdf(html: Path, pdf: Path, chromium: Path = Path("/usr/bin/chromium"),
                      timeout: float = 120.0, mode: int = 0o640) -> None:
    """Print ``html`` to ``pdf`` with Chromium's sandbox on, as an unprivileged user when we
    are root. Chromium sees only a private copy of the HTML in its own folder; the PDF is then
    written atomically with ``mode``. If the sandbox cannot start here, the error says why
    (no unsandboxed fallback)."""
    binary = str(chromium) if chromium.exists() else shutil.which(str(chromium))
    if not binary:
        raise ChromiumError(f"chromium not found at {chromium} (apt-get install chromium)")
    account = _run_as()
    work = tempfile.mkdtemp(prefix="monitor-chromium-")
    try:
        page, out = os.path.join(work, "report.html"), os.path.join(work, "report.pdf")
        shutil.copyfile(html, page)
        if account is not None:
            os.chown(work, *account)
            os.chown(page, *account)
        process = await asyncio.create_subprocess_exec(
            binary, *chromium_flags(os.path.join(work, "profile"), sandbox=True),
            "--no-pdf-header-footer", f"--print-to-pdf={out}", Path(page).as_uri(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={"HOME": work, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            user=account[0] if account else None, group=account[1] if account else None,
            extra_groups=[] if account else None)
        try:
            _, err = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise ChromiumError(f"chromium did not print {html.name} within {timeout:.0f}s") from None
        text = err.decode(errors="replace")
        if process.returncode != 0 or not os.path.exists(out) or os.path.getsize(out) == 0:
            if "sandbox" in text.lower():
                raise ChromiumError(
                    "PDF disabled: Chromium's sandbox cannot start here (it needs unprivileged "
                    "user namespaces or its setuid helper), and reports are not rendered "
                    f"unsandboxed: {text[-300:]}")
            raise ChromiumError(f"chromium failed to print {html.name} (exit {process.returncode}): "
                                f"{text[-500:]}")
        from .render import write_atomic

        write_atomic(pdf, Path(out).read_bytes(), mode=mode)
    finally:
        shutil.rmtree(work, ignore_errors=True)
