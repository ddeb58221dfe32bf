"""Inline SVG charts drawn by our code: no library, no script, no external reference.

Every function returns ``markupsafe.Markup`` built from numbers we computed and text passed
through ``html.escape`` (labels can hold attacker-controlled rule names). Output is
deterministic: coordinates are rounded to one decimal. Colours are paired with text labels so a
grey-scale print or a colour-blind reader loses nothing.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from markupsafe import Markup

__all__ = [
    "SEVERITY_COLOURS",
    "STATUS_COLOURS",
    "availability_strip",
    "status_bar",
    "timeline",
    "trend_line",
]

STATUS_COLOURS = {
    "fail": "#c62828", "insufficient_data": "#b26a00", "waived": "#6a3fb5", "pass": "#2e7d32",
    "not_applicable": "#8a939c", "manual": "#1f5fae",
}
SEVERITY_COLOURS = {"critical": "#7b1fa2", "high": "#c62828", "medium": "#ef6c00",
                    "low": "#607d8b"}
_FONT = 'font-family="system-ui, sans-serif"'


def _n(value: float) -> str:
    text = f"{value:.1f}"
    return text.removesuffix(".0")


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}" '
            f'class="chart"><title>{escape(title)}</title>')
    return Markup(head + "".join(body) + "</svg>")


def status_bar(counts: Sequence[tuple[str, int]], labels: dict[str, str], title: str,
               width: int = 640) -> Markup:
    """A stacked horizontal bar of counts by status, with a legend of label and count."""
    total = sum(n for _, n in counts)
    body: list[str] = []
    x = 0.0
    bar_h = 22
    if total == 0:
        body.append(f'<rect x="0" y="0" width="{width}" height="{bar_h}" fill="#e6e8eb"/>')
    for status, n in counts:
        if n <= 0:
            continue
        w = width * n / total
        colour = STATUS_COLOURS.get(status, "#999999")
        body.append(f'<rect x="{_n(x)}" y="0" width="{_n(w)}" height="{bar_h}" fill="{colour}">'
                    f'<title>{escape(labels.get(status, status))}: {n}</title></rect>')
        x += w
    lx, ly = 0, bar_h + 22
    for status, n in counts:
        label = f"{labels.get(status, status)}: {n}"
        colour = STATUS_COLOURS.get(status, "#999999")
        body.append(f'<rect x="{lx}" y="{ly - 11}" width="12" height="12" fill="{colour}"/>'
                    f'<text x="{lx + 16}" y="{ly}" font-size="15" {_FONT} fill="#1b1f24">'
                    f'{escape(label)}</text>')
        lx += 16 + 9 * len(label) + 20
        if lx > width - 150:
            lx, ly = 0, ly + 22
    return _svg(width, ly + 8, title, body)


def trend_line(points: Sequence[tuple[str, float | None]], title: str, width: int = 640,
               height: int = 170) -> Markup:
    """Score (0–100 %) over the last reports; a report without a score leaves a gap."""
    left, right, top, bottom = 40, 12, 12, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    body: list[str] = []
    for pct in (0, 50, 100):
        y = top + plot_h * (1 - pct / 100)
        body.append(f'<line x1="{left}" y1="{_n(y)}" x2="{width - right}" y2="{_n(y)}" '
                    f'stroke="#d0d7de" stroke-width="1"/>'
                    f'<text x="{left - 6}" y="{_n(y + 4)}" font-size="11" text-anchor="end" '
                    f'{_FONT} fill="#57606a">{pct}%</text>')
    count = len(points)
    step = plot_w / max(count - 1, 1)
    segment: list[str] = []
    segments: list[list[str]] = []
    for i, (label, score) in enumerate(points):
        x = left + (step * i if count > 1 else plot_w / 2)
        if score is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        y = top + plot_h * (1 - max(0.0, min(100.0, score)) / 100)
        segment.append(f"{_n(x)},{_n(y)}")
        body.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="3.5" fill="#1f5fae">'
                    f'<title>{escape(label)}: {score:.1f}%</title></circle>')
    if segment:
        segments.append(segment)
    for seg in segments:
        if len(seg) > 1:
            body.append(f'<polyline points="{" ".join(seg)}" fill="none" stroke="#1f5fae" '
                        f'stroke-width="2"/>')
    for i in sorted({0, count - 1}) if count else ():
        x = left + (step * i if count > 1 else plot_w / 2)
        anchor = "start" if i == 0 and count > 1 else ("end" if count > 1 else "middle")
        body.append(f'<text x="{_n(x)}" y="{height - 12}" font-size="11" text-anchor="{anchor}" '
                    f'{_FONT} fill="#57606a">{escape(points[i][0])}</text>')
    if not count:
        body.append(f'<text x="{left}" y="{top + 20}" font-size="12" {_FONT}>no report yet</text>')
    return _svg(width, height, title, body)


def timeline(buckets: Sequence[tuple[datetime, Sequence[tuple[str, int]]]], title: str,
             fmt: str, width: int = 640, height: int = 170) -> Markup:
    """Stacked bars of findings per time bucket and severity."""
    left, right, top, bottom = 40, 8, 10, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((sum(n for _, n in counts) for _, counts in buckets), default=0)
    axis = (f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" '
            f'y2="{top + plot_h}" stroke="#8c959f"/>')
    peak_label = (f'<text x="{left - 6}" y="{top + 10}" font-size="11" text-anchor="end" '
                  f'{_FONT} fill="#57606a">{peak}</text>')
    body: list[str] = [axis, peak_label]
    if not buckets:
        return _svg(width, height, title, body)
    slot = plot_w / len(buckets)
    bar = max(1.0, slot * 0.8)
    for i, (start, counts) in enumerate(buckets):
        x = left + slot * i + (slot - bar) / 2
        y: float = top + plot_h
        total = sum(n for _, n in counts)
        for severity, n in counts:
            if n <= 0 or peak == 0:
                continue
            h = plot_h * n / peak
            y -= h
            body.append(f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(bar)}" height="{_n(h)}" '
                        f'fill="{SEVERITY_COLOURS.get(severity, "#999999")}"><title>'
                        f'{escape(start.strftime(fmt))} {escape(severity)}: {n}</title></rect>')
        if total == 0:
            continue
    ticks = sorted({0, len(buckets) // 2, len(buckets) - 1})
    for i in ticks:
        x = left + slot * i + slot / 2
        anchor = "middle"
        if i == 0 and len(buckets) > 1:
            anchor, x = "start", left + slot * i
        elif i == len(buckets) - 1 and len(buckets) > 1:
            anchor, x = "end", left + slot * (i + 1)
        body.append(f'<text x="{_n(x)}" y="{height - 10}" font-size="11" text-anchor="{anchor}" '
                    f'{_FONT} fill="#57606a">{escape(buckets[i][0].strftime(fmt))}</text>')
    return _svg(width, height, title, body)


def availability_strip(start: datetime, end: datetime,
                       gaps: Sequence[tuple[datetime, datetime]], title: str,
                       width: int = 240, height: int = 12) -> Markup:
    """A thin bar over the period: green where the source logged, red where it was silent."""
    span = (end - start).total_seconds() or 1.0
    body = [f'<rect x="0" y="0" width="{width}" height="{height}" fill="#2e7d32"/>']
    for g_start, g_end in gaps:
        x = width * max(0.0, (g_start - start).total_seconds()) / span
        w = max(1.0, width * (g_end - g_start).total_seconds() / span)
        body.append(f'<rect x="{_n(x)}" y="0" width="{_n(min(w, width - x))}" '
                    f'height="{height}" fill="#c62828"/>')
    return _svg(width, height, title, body)
