"""Hand-written SVG line charts for the report: scaled polylines, axes, ticks, fill markers.

No plotting library, so the report needs nothing beyond the standard library and the
HTML stays self-contained: every chart is a few kilobytes of inline ``<svg>``. Series
longer than ``max_points`` are downsampled keeping each bucket's minimum and maximum,
so a spike or a crash survives the thinning and a day of ticks still draws in a few KB.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

__all__ = [
    "MAX_MARKERS",
    "MAX_POINTS",
    "Chart",
    "Marker",
    "Series",
    "downsample",
    "nice_ticks",
    "render_chart",
    "time_label",
]

MAX_POINTS = 2000
MAX_MARKERS = 2000
BUY_COLOUR, SELL_COLOUR = "#1a7f37", "#cf222e"
_EPOCH_2001 = 1e9  # times above this are wall-clock epoch seconds, below: elapsed


@dataclass(frozen=True, slots=True)
class Series:
    """One line: (x, y) points in drawing order."""

    points: Sequence[tuple[float, float]]
    colour: str
    label: str = ""
    area_to: float | None = None  # shade between the line and this y (drawdown: 0)


@dataclass(frozen=True, slots=True)
class Marker:
    """A fill on the price line: ``side`` BUY (up triangle) or SELL (down triangle)."""

    x: float
    y: float
    side: str
    title: str = ""


@dataclass(frozen=True, slots=True)
class Chart:
    """What to draw; sizes are SVG user units (the viewBox)."""

    title: str
    series: Sequence[Series]
    markers: Sequence[Marker] = field(default_factory=tuple)
    width: int = 960
    height: int = 260
    y_suffix: str = ""


def downsample(
    points: Sequence[tuple[float, float]], max_points: int = MAX_POINTS
) -> list[tuple[float, float]]:
    """At most ``max_points`` points: per index bucket, its min and max (in x order).

    The first and last points are always kept, so the line spans the whole session.
    """
    n = len(points)
    if n <= max_points:
        return list(points)
    buckets = max(1, (max_points - 2) // 2)
    out = [points[0]]
    inner = points[1:-1]
    size = len(inner) / buckets
    for b in range(buckets):
        chunk = inner[int(b * size) : int((b + 1) * size)]
        if not chunk:
            continue
        lo = min(range(len(chunk)), key=lambda i: chunk[i][1])
        hi = max(range(len(chunk)), key=lambda i: chunk[i][1])
        out.extend(chunk[i] for i in sorted({lo, hi}))
    out.append(points[-1])
    return out


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 5 x 10^k steps) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    ticks, k = [], 0
    while first + k * step <= hi + step * 1e-9:
        ticks.append(round(first + k * step, 12))
        k += 1
    return ticks


_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
               21600, 43200, 86400, 172800, 604800)  # fmt: skip


def _time_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    raw = (hi - lo) / count
    step = next((s for s in _TIME_STEPS if s >= raw), None)
    if step is None:
        return nice_ticks(lo, hi, count)
    first = math.ceil(lo / step) * step
    return [first + k * step for k in range(int((hi - first) // step) + 1)]


def time_label(t: float, span: float, origin: float) -> str:
    """UTC clock time for epoch seconds; elapsed time for a virtual clock starting near 0."""
    if origin >= _EPOCH_2001:
        fmt = "%H:%M:%S" if span < 600 else "%H:%M" if span < 86400 else "%m-%d %H:%M"
        return datetime.fromtimestamp(t, UTC).strftime(fmt)
    s = t - origin
    return f"{s:g}s" if span < 600 else f"{s / 60:g}m" if span < 86400 else f"{s / 3600:g}h"


def _value_label(v: float, step: float, suffix: str) -> str:
    decimals = max(0, -math.floor(math.log10(step))) if step > 0 else 2
    return f"{v:,.{min(decimals, 8)}f}{suffix}"


def _range(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if hi == lo:
        pad = abs(lo) * 0.01 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def render_chart(chart: Chart, *, standalone: bool = False, x: int = 0, y: int = 0) -> str:
    """One ``<svg>`` element (with ``xmlns`` and a position when ``standalone``).

    Every coordinate is inside the viewBox; markers beyond ``MAX_MARKERS`` are thinned
    evenly (the caption says so) and each keeps a ``<title>`` tooltip.
    """
    w, h = chart.width, chart.height
    left, right, top, bottom = 78, 16, 26, 30
    pw, ph = w - left - right, h - top - bottom
    series = [Series(downsample(s.points), s.colour, s.label, s.area_to) for s in chart.series]
    markers = list(chart.markers)
    note = ""
    if len(markers) > MAX_MARKERS:
        stride = math.ceil(len(markers) / MAX_MARKERS)
        note = f" (every {stride}th of {len(markers)} fills shown)"
        markers = markers[::stride]
    xs = [p[0] for s in series for p in s.points] + [m.x for m in markers]
    ys = [p[1] for s in series for p in s.points] + [m.y for m in markers]
    ys += [s.area_to for s in series if s.area_to is not None and s.points]
    attrs = f'viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img"'
    if standalone:
        attrs = f'xmlns="http://www.w3.org/2000/svg" x="{x}" y="{y}" ' + attrs
    out = [f'<svg {attrs} font-family="sans-serif" font-size="11">',
           f"<title>{escape(chart.title)}</title>",
           f'<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>',
           f'<text x="{left}" y="16" font-size="13" font-weight="bold">'
           f"{escape(chart.title + note)}</text>"]  # fmt: skip
    if not xs:
        out.append(f'<text x="{left + pw / 2:.1f}" y="{top + ph / 2:.1f}" text-anchor="middle" '
                   'fill="#57606a">no data</text></svg>')  # fmt: skip
        return "".join(out)
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    y0, y1 = _range(ys)

    def sx(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * pw

    def sy(v: float) -> float:
        return top + ph - (v - y0) / (y1 - y0) * ph

    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" '
               'stroke="#d0d7de"/>')  # fmt: skip
    yt = nice_ticks(y0, y1)
    ystep = yt[1] - yt[0] if len(yt) > 1 else abs(y1 - y0) or 1.0
    for v in yt:
        py = sy(v)
        out.append(f'<line x1="{left}" y1="{py:.1f}" x2="{left + pw}" y2="{py:.1f}" '
                   'stroke="#eaeef2"/>'
                   f'<text x="{left - 6}" y="{py + 4:.1f}" text-anchor="end">'
                   f"{escape(_value_label(v, ystep, chart.y_suffix))}</text>")  # fmt: skip
    for v in _time_ticks(x0, x1):
        px = sx(v)
        anchor = "end" if px > left + pw - 30 else "middle"  # keep the last label inside
        out.append(f'<line x1="{px:.1f}" y1="{top + ph}" x2="{px:.1f}" y2="{top + ph + 4}" '
                   'stroke="#57606a"/>'
                   f'<text x="{px:.1f}" y="{top + ph + 16}" text-anchor="{anchor}">'
                   f"{escape(time_label(v, x1 - x0, x0))}</text>")  # fmt: skip
    for s in series:
        if not s.points:
            continue
        pts = " ".join(f"{sx(px):.1f},{sy(py):.1f}" for px, py in s.points)
        if s.area_to is not None:
            base = sy(s.area_to)
            first, last = sx(s.points[0][0]), sx(s.points[-1][0])
            out.append(f'<polygon points="{first:.1f},{base:.1f} {pts} {last:.1f},{base:.1f}" '
                       f'fill="{s.colour}" fill-opacity="0.15" stroke="none"/>')  # fmt: skip
        out.append(f'<polyline points="{pts}" fill="none" stroke="{s.colour}" '
                   'stroke-width="1.5" stroke-linejoin="round"/>')  # fmt: skip
    for m in markers:
        px, py = sx(m.x), sy(m.y)
        buy = m.side.upper() == "BUY"
        d = (
            f"M{px:.1f},{py - 7:.1f} L{px + 5:.1f},{py + 2:.1f} L{px - 5:.1f},{py + 2:.1f} Z"
            if buy
            else f"M{px:.1f},{py + 7:.1f} L{px + 5:.1f},{py - 2:.1f} L{px - 5:.1f},{py - 2:.1f} Z"
        )
        colour = BUY_COLOUR if buy else SELL_COLOUR
        out.append(f'<path class="{"buy" if buy else "sell"}" d="{d}" fill="{colour}" '
                   f'stroke="#ffffff" stroke-width="0.5"><title>{escape(m.title)}</title>'
                   "</path>")  # fmt: skip
    labelled = [s for s in series if s.label]
    for i, s in enumerate(labelled):
        lx = left + pw - 150 * (len(labelled) - i)
        out.append(f'<rect x="{lx}" y="8" width="10" height="3" fill="{s.colour}"/>'
                   f'<text x="{lx + 14}" y="13">{escape(s.label)}</text>')  # fmt: skip
    out.append("</svg>")
    return "".join(out)
