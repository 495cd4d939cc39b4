"""Charts as inline SVG, rendered on the server: no chart library, no script, works offline.

Every label is escaped; values are plain numbers (the callers turn money into dollars for display only). A
series keeps its colour wherever it is drawn: the colour comes from a stable hash of its name (never from
its rank), and two series of one chart never share a colour.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from datetime import date
from html import escape

from markupsafe import Markup

# Twelve colours far enough apart to tell side by side (Tableau-like, on a light background).
PALETTE = ("#4E79A7", "#F28E2B", "#59A14F", "#E15759", "#76B7B2", "#EDC948", "#B07AA1", "#FF9DA7",
           "#9C755F", "#6C5BB9", "#2E8B57", "#BCBD22")


def _slot(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") % len(PALETTE)


def colors(names: Sequence[str]) -> dict[str, str]:
    """A colour per name: its hashed slot, or the next free one when another name of this chart holds it.

    Names are placed in alphabetical order, so the same set of names always gets the same colours; with more
    names than colours the palette repeats (the legend and the tooltips still name each one).
    """
    taken: dict[int, str] = {}
    out: dict[str, str] = {}
    for name in sorted(set(names)):
        slot = _slot(name)
        for step in range(len(PALETTE)):
            if (slot + step) % len(PALETTE) not in taken:
                slot = (slot + step) % len(PALETTE)
                break
        taken[slot] = name
        out[name] = PALETTE[slot]
    return out


def cap_bar(spent: float, cap: float, marks: Sequence[int] = (50, 80, 95), width: int = 360) -> Markup:
    """A horizontal bar: spend against its cap, with a tick at each alert threshold."""
    ratio = 0.0 if cap <= 0 else spent / cap
    filled = min(ratio, 1.0) * width
    color = "#2E8B57" if ratio < 0.8 else "#C0A020" if ratio < 0.95 else "#C0392B"
    ticks = "".join(
        f'<line x1="{width * m / 100:.1f}" y1="0" x2="{width * m / 100:.1f}" y2="18" stroke="#333" '
        f'stroke-dasharray="2,2"><title>{m} %</title></line>'
        f'<text x="{width * m / 100:.1f}" y="30" font-size="9" text-anchor="middle">{m}%</text>'
        for m in marks)
    label = f"{ratio * 100:.1f} % of cap"
    return Markup(  # noqa: S704 - built from numbers and escaped labels only
        f'<svg class="capbar" role="img" aria-label="{escape(label)}" width="{width}" height="32" '
        f'viewBox="0 0 {width} 32"><rect width="{width}" height="18" fill="#eee"/>'
        f'<rect width="{filled:.1f}" height="18" fill="{color}"/>{ticks}</svg>')


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """Round tick values from 0 to at least ``top`` (steps of 1, 2 or 5 times a power of ten)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return [step * i for i in range(math.ceil(top / step - 1e-9) + 1)]


def money(value: float, unit: str = "$") -> str:
    """An axis or tooltip amount: cents, more decimals below ten cents, k above ten thousand."""
    if value >= 10_000:
        return f"{unit}{value / 1000:,.0f}k"
    if value and value < 0.1:
        return f"{unit}{value:,.4f}".rstrip("0")
    return f"{unit}{value:,.2f}"


def _day_label(day: str) -> str:
    parsed = date.fromisoformat(day)
    return f"{parsed.strftime('%b')} {parsed.day}"


def stacked_bars(days: Sequence[str], series: Mapping[str, Mapping[str, float]], *, width: int = 1100,
                 height: int = 240, unit: str = "$", what: str = "series") -> Markup:
    """One bar per day, stacked by series (workspace or model), with a y axis in ``unit``, dated x labels and a
    legend of the series drawn (a series with nothing to draw is left out of both)."""
    drawn = {n: s for n, s in series.items() if sum(s.values()) > 0}
    if not days or not drawn:
        return Markup('<p class="muted">No usage in this period yet.</p>')
    names = sorted(drawn, key=lambda n: (-sum(drawn[n].values()), n))
    palette = colors(names)
    totals = [sum(drawn[n].get(d, 0.0) for n in names) for d in days]
    ticks = nice_ticks(max(totals))
    top = ticks[-1]
    left, right, top_pad, bottom = 64, 8, 10, 24
    plot_h, plot_w = height - top_pad - bottom, width - left - right
    base = height - bottom
    step = plot_w / len(days)
    bar_w = max(min(step * 0.7, 40.0), 1.0)
    parts = []
    for tick in ticks:
        y = base - tick / top * plot_h
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e6e3dc"/>'
                     f'<text class="ytick" x="{left - 6}" y="{y + 3:.1f}" font-size="10" text-anchor="end">'
                     f'{escape(money(tick, unit))}</text>')
    parts.append(f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#999"/>')
    every = max(math.ceil(len(days) / 12), 1)
    for i, day in enumerate(days):
        x = left + i * step + (step - bar_w) / 2
        y = float(base)
        for name in names:
            value = drawn[name].get(day, 0.0)
            if value <= 0:
                continue
            h = value / top * plot_h
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                         f'fill="{palette[name]}" data-series="{escape(name)}"><title>{escape(_day_label(day))}, '
                         f'{escape(name)}: {escape(money(value, unit))}</title></rect>')
        if i % every == 0:
            parts.append(f'<text class="xtick" x="{x + bar_w / 2:.1f}" y="{height - 8}" font-size="10" '
                         f'text-anchor="middle">{escape(_day_label(day))}</text>')
    legend = "".join(f'<span class="legend" data-series="{escape(n)}"><i style="background:{palette[n]}"></i>'
                     f'{escape(n)}</span>' for n in names)
    svg = (f'<svg class="chart" role="img" aria-label="spend per day by {escape(what)}" '
           f'viewBox="0 0 {width} {height}" preserveAspectRatio="xMinYMin meet">{"".join(parts)}</svg>'
           f'<div class="legends">{legend}</div>')
    return Markup(svg)  # noqa: S704 - built from numbers and escaped labels only
