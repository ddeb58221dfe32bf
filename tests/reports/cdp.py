"""A tiny Chrome DevTools Protocol client over ``websockets`` for the browser tests.

Starts Debian's headless Chromium with a throw-away profile and ``--remote-debugging-port=0``,
reads the chosen port from ``DevToolsActivePort``, opens one page target and records every
console message, uncaught exception, log entry (CSP violations land there), network request
and JavaScript dialog while a page loads.
"""
from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from monitor.reports.pdf import chromium_flags

CHROMIUM = os.environ.get("MONITOR_CHROMIUM", "/usr/bin/chromium")


@dataclass
class PageLog:
    console: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    log_entries: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


class Browser:
    def __init__(self) -> None:
        self.profile = tempfile.mkdtemp(prefix="report-cdp-")
        self.process: subprocess.Popen[bytes] | None = None
        self.ws: Any = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.log = PageLog()
        self._reader: asyncio.Task[None] | None = None
        self._loaded = asyncio.Event()

    async def start(self) -> None:
        self.process = subprocess.Popen(  # started once per module
            [CHROMIUM, *chromium_flags(self.profile), "--remote-debugging-port=0",
             "--remote-allow-origins=*", "--window-size=1280,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={"HOME": self.profile, "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        port_file = Path(self.profile) / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and port_file.read_text().strip():
                break
            await asyncio.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        async with httpx.AsyncClient() as client:
            targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = await websockets.connect(page["webSocketDebuggerUrl"], max_size=64 * 2**20)
        self._reader = asyncio.create_task(self._read())
        for domain in ("Page", "Runtime", "Log", "Network"):
            await self.send(f"{domain}.enable")

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if "id" in message and message["id"] in self._pending:
                self._pending.pop(message["id"]).set_result(message)
                continue
            method, params = message.get("method"), message.get("params", {})
            if method == "Runtime.consoleAPICalled":
                self.log.console.append(params)
            elif method == "Runtime.exceptionThrown":
                self.log.exceptions.append(params)
            elif method == "Log.entryAdded":
                self.log.log_entries.append(params["entry"])
            elif method == "Network.requestWillBeSent":
                self.log.requests.append(params["request"]["url"])
            elif method == "Page.javascriptDialogOpening":
                self.log.dialogs.append(params.get("message", ""))
                await self.ws.send(json.dumps({"id": next(self._ids),
                                               "method": "Page.handleJavaScriptDialog",
                                               "params": {"accept": True}}))
            elif method == "Page.loadEventFired":
                self._loaded.set()

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        await self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        answer = await asyncio.wait_for(future, 30)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    async def load(self, url: str) -> PageLog:
        self.log = PageLog()
        self._loaded.clear()
        await self.send("Page.navigate", url=url)
        await asyncio.wait_for(self._loaded.wait(), 30)
        await asyncio.sleep(0.3)  # let late console messages and violations arrive
        return self.log

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    async def screenshot(self, path: Path, selector: str | None = None) -> None:
        params: dict[str, Any] = {"format": "png"}
        if selector:
            rect = await self.evaluate(
                f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                " e.scrollIntoView(); const r = e.getBoundingClientRect();"
                " return {x: r.x + window.scrollX, y: r.y + window.scrollY,"
                " width: r.width, height: Math.min(r.height, 3000)}; })()")
            params["clip"] = {**rect, "scale": 1}
            params["captureBeyondViewport"] = True
        shot = await self.send("Page.captureScreenshot", **params)
        path.write_bytes(base64.b64decode(shot["data"]))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.profile, ignore_errors=True)
