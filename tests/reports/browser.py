"""Debian's headless Chromium for the browser tests, driven by Selenium through Debian's
``chromedriver`` (package ``chromium-driver``, built from the same source as ``chromium``, so
the two always have the same version).

Chromium gets the flags of :func:`monitor.reports.pdf.chromium_flags` and a throw-away profile.
What a page does while it loads is read from ChromeDriver's logs: the ``browser`` log (console
messages, uncaught exceptions and every other log entry, CSP violations among them) and the
``performance`` log (``Network.requestWillBeSent`` for each request and
``Page.javascriptDialogOpening`` for each alert/confirm/prompt). A dialog is also accepted and
reported as an error by the next command (``unhandledPromptBehavior``: accept and notify), so a
payload that opens one fails the test either way.

Selenium is synchronous: each call runs in a worker thread, one at a time, so the tests' event
loop (which also serves the Elasticsearch fixtures) is never blocked.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from monitor.reports.pdf import chromium_flags

CHROMIUM = os.environ.get("MONITOR_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MONITOR_CHROMEDRIVER", "/usr/bin/chromedriver")

#: ChromeDriver's log levels as the DevTools ``Log`` domain names them
_LEVELS = {"SEVERE": "error", "WARNING": "warning", "INFO": "info", "DEBUG": "verbose"}

T = TypeVar("T")


@dataclass
class PageLog:
    """What one page load did; commands after the load keep adding to it."""

    console: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    log_entries: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


class Browser:
    def __init__(self) -> None:
        self.profile = tempfile.mkdtemp(prefix="report-browser-")
        self.driver: webdriver.Chrome | None = None
        self.log = PageLog()
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        # the tests' own pages: chromium_flags adds --no-sandbox (the CI runs as root)
        for flag in [*chromium_flags(self.profile), "--window-size=1280,900"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        options.add_experimental_option("perfLoggingPrefs",
                                        {"enableNetwork": True, "enablePage": True})
        options.unhandled_prompt_behavior = "accept and notify"
        # an explicit driver path: Selenium Manager (which may download drivers) never runs
        service = Service(CHROMEDRIVER, env={"HOME": self.profile,
                                             "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        self.driver = await asyncio.to_thread(webdriver.Chrome, options=options, service=service)
        # the first tab's own start page loads on its own: let it finish, then forget it
        await self._call(lambda d: d.get("about:blank"))
        await asyncio.sleep(0.3)
        await self._call(lambda d: None)
        self.log = PageLog()

    def _drain(self, driver: webdriver.Chrome) -> None:
        """Move what ChromeDriver logged since the last read into ``self.log``."""
        for entry in driver.get_log("browser"):
            source = entry.get("source")
            if source == "console-api":
                self.log.console.append(entry)
            elif source == "javascript":
                self.log.exceptions.append(entry)
            else:
                self.log.log_entries.append(
                    {**entry, "level": _LEVELS.get(entry.get("level", ""), entry.get("level"))})
        for entry in driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            method, params = message.get("method"), message.get("params", {})
            if method == "Network.requestWillBeSent":
                self.log.requests.append(params["request"]["url"])
            elif method == "Page.javascriptDialogOpening":
                self.log.dialogs.append(params.get("message", ""))

    async def _call(self, command: Callable[[webdriver.Chrome], T]) -> T:
        """Run one Selenium command in a worker thread, then record what the page logged
        (also when the command failed, e.g. on an unexpected dialog)."""
        driver = self.driver
        assert driver is not None, "start() first"

        def run() -> T:
            try:
                return command(driver)
            finally:
                self._drain(driver)

        async with self._lock:
            return await asyncio.to_thread(run)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """A DevTools command on the page (Selenium's ``execute_cdp_cmd``)."""
        result: dict[str, Any] = await self._call(lambda d: d.execute_cdp_cmd(method, params))
        return result

    async def load(self, url: str) -> PageLog:
        await self._call(lambda d: None)  # whatever came before belongs to the previous page
        self.log = PageLog()
        await self._call(lambda d: d.get(url))  # returns once the load event has fired
        await asyncio.sleep(0.3)  # let late console messages and violations arrive
        await self._call(lambda d: None)
        return self.log

    async def evaluate(self, expression: str) -> Any:
        return await self._call(lambda d: d.execute_script(f"return ({expression});"))

    async def screenshot(self, path: Path, selector: str | None = None) -> None:
        if selector:
            png = await self._call(
                lambda d: d.find_element(By.CSS_SELECTOR, selector).screenshot_as_png)
        else:
            png = await self._call(lambda d: d.get_screenshot_as_png())
        path.write_bytes(png)

    async def close(self) -> None:
        try:
            if self.driver is not None:
                await asyncio.to_thread(self.driver.quit)
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
