"""The rendered report in real headless Chromium (Debian's ``chromium`` package).

* loads with no console message, no uncaught exception, no error log entry (a CSP violation
  would be one) and no network request besides the file itself;
* screenshots of the summary and of a failing control are saved under the test's tmp folder;
* every hostile value (``<script>``, ``javascript:`` links, event-handler attributes, CSS that
  closes the style element) shows as text and runs nothing — checked with the CSP in place and
  again with the CSP removed, so escaping alone is what is tested the second time;
* the sort script works, and without script the report is complete.
"""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.reports.render import render_html

from .browser import Browser
from .fixtures import PAYLOADS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    b = Browser()
    await b.start()
    try:
        yield b
    finally:
        await b.close()


@pytest.fixture(scope="module")
def report_file(report_data, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_html(report_data, json_name="report.json"), encoding="utf-8")
    return path


_INERT = """(() => {
  const handlers = [];
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      if (attr.name.toLowerCase().startsWith('on')) handlers.push(el.tagName + ' ' + attr.name);
    }
  }
  return {
    xss: window.__xss === undefined ? null : String(window.__xss),
    scripts: document.querySelectorAll('script').length,
    styles: document.querySelectorAll('style').length,
    handlers: handlers,
    jsLinks: Array.from(document.querySelectorAll('a[href]'))
      .filter(a => !a.getAttribute('href').startsWith('#')).map(a => a.getAttribute('href')),
    bodyDisplay: getComputedStyle(document.body).display,
    text: document.body.innerText,
  };
})()"""


async def test_loads_without_console_error_or_network_request(browser: Browser, report_file: Path,
                                                              tmp_path: Path) -> None:
    url = report_file.as_uri()
    log = await browser.load(url)
    assert log.console == []
    assert log.exceptions == []
    assert [e for e in log.log_entries if e.get("level") in ("error", "warning")] == []
    assert log.requests == [url], "the report must make no request besides loading itself"
    assert log.dialogs == []
    summary, control = tmp_path / "summary.png", tmp_path / "control-CHK-02.png"
    await browser.screenshot(summary, "header")
    await browser.screenshot(control, "#control-CHK-02")
    for shot in (summary, control):
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, shot
    print(f"screenshots: {summary} {control}")


@pytest.mark.parametrize("strip_csp", [False, True], ids=["with-csp", "without-csp"])
async def test_hostile_values_are_text_and_run_nothing(browser: Browser, report_file: Path,
                                                       tmp_path: Path, strip_csp: bool) -> None:
    html = report_file.read_text(encoding="utf-8")
    if strip_csp:
        html, count = re.subn(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
        assert count == 1
    page = tmp_path / "hostile.html"
    page.write_text(html, encoding="utf-8")
    log = await browser.load(page.as_uri())
    state = await browser.evaluate(_INERT)
    assert state["xss"] is None, f"a payload executed: {state['xss']}"
    assert log.dialogs == [] and log.exceptions == []
    assert state["scripts"] == 1 and state["styles"] == 1
    assert state["handlers"] == []
    assert state["jsLinks"] == []
    assert state["bodyDisplay"] == "block"
    for name in ("script", "img", "js_link", "css", "svg", "close_pre"):
        assert PAYLOADS[name] in state["text"], f"payload {name} not shown as text"
    assert "feature/" + PAYLOADS["script"] in state["text"]  # a hostile branch name
    assert "invoice\\u202egnp.exe\\u001b[2J" in state["text"]  # bidi/control chars made visible
    assert "\u202e" not in html and "\x1b" not in html
    assert "{{ 7*7 }}" in state["text"] and "49" not in state["text"].split("{{ 7*7 }}")[0][-5:]
    assert log.requests == [page.as_uri()]


async def test_sort_script_sorts_and_report_is_complete_without_script(
        browser: Browser, report_file: Path, report_data) -> None:
    await browser.load(report_file.as_uri())
    assert await browser.evaluate("document.querySelectorAll('input.filter').length") > 0
    ids = "Array.from(document.querySelectorAll('#requirements-table tbody tr')).map(r => r.cells[0].textContent)"
    before = await browser.evaluate(ids)
    await browser.evaluate("document.querySelector('#requirements-table thead th').click()")
    await browser.evaluate("document.querySelector('#requirements-table thead th').click()")
    after = await browser.evaluate(ids)
    assert after == list(reversed(before)) and before != after
    await browser.send("Emulation.setScriptExecutionDisabled", value=True)
    try:
        await browser.load(report_file.as_uri())
        rows = await browser.evaluate(ids)
        filters = await browser.evaluate("document.querySelectorAll('input.filter').length")
    finally:
        await browser.send("Emulation.setScriptExecutionDisabled", value=False)
    assert filters == 0, "page script still ran"
    assert rows == [r.id for r in report_data.requirements]


async def test_index_page_loads_clean(browser: Browser, report_data, tmp_path: Path) -> None:
    from monitor.reports.publish import update_index, write_report_files

    record = await write_report_files(report_data, tmp_path, ["html", "json"])
    update_index(tmp_path, record, keep=10)
    url = (tmp_path / "index.html").as_uri()
    log = await browser.load(url)
    assert log.console == [] and log.exceptions == [] and log.log_entries == []
    assert log.requests == [url]
    links = await browser.evaluate(
        "Array.from(document.querySelectorAll('a')).map(a => a.getAttribute('href'))")
    assert links == ["pci-dss-4.0.1_daily_2026-11-24.html", "pci-dss-4.0.1_daily_2026-11-24.json"]


_OVERFLOW = """(() => {
  const limit = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.right > limit + 1 && box.width > 0) {
      wide.push(el.tagName + (el.id ? '#' + el.id : '') +
                (el.className ? '.' + String(el.className).split(' ')[0] : '') +
                ' right=' + Math.round(box.right));
    }
  }
  return {scroll: document.documentElement.scrollWidth, client: limit, wide: wide.slice(0, 12)};
})()"""


@pytest.mark.parametrize("width", [900, 1280])
async def test_no_horizontal_page_scroll(browser: Browser, report_file: Path, width: int) -> None:
    """An auditor on a laptop or half a screen reads the page without sideways scrolling: wide
    tables wrap their text (a long value scrolls inside its own cell box at worst)."""
    await browser.send("Emulation.setDeviceMetricsOverride", width=width, height=900,
                       deviceScaleFactor=1, mobile=False)
    try:
        await browser.load(report_file.as_uri())
        layout = await browser.evaluate(_OVERFLOW)
    finally:
        await browser.send("Emulation.clearDeviceMetricsOverride")
    assert layout["scroll"] <= layout["client"], layout
