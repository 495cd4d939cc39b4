"""Charts as inline SVG, rendered on the server: no chart library, no script, works offline.

Every label is escaped; values are plain numbers (the callers turn money into dollars for display only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

PALETTE = ("#6C5BB9", "#D97757", "#2E8B57", "#3B82C4", "#C0A020", "#B04A8A", "#5A8F9E", "#8C6D46")


def _color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


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


def stacked_bars(days: Sequence[str], series: Mapping[str, Mapping[str, float]], *, width: int = 720,
                 height: int = 220, unit: str = "$") -> Markup:
    """One bar per day, stacked by series (workspace or model), with a legend; empty data says so."""
    if not days or not series:
        return Markup('<p class="muted">No usage in this period yet.</p>')
    names = sorted(series, key=lambda n: -sum(series[n].values()))
    totals = [sum(series[n].get(d, 0.0) for n in names) for d in days]
    top = max(totals) or 1.0
    left, bottom, plot_h = 48, 20, height - 40
    step = (width - left) / len(days)
    bar_w = max(step * 0.7, 1.0)
    parts = [f'<text x="0" y="12" font-size="10">{escape(unit)}{top:,.4f}</text>' if top < 1 else
             f'<text x="0" y="12" font-size="10">{escape(unit)}{top:,.2f}</text>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" stroke="#999"/>']
    for i, day in enumerate(days):
        y = float(height - bottom)
        x = left + i * step
        for j, name in enumerate(names):
            value = series[name].get(day, 0.0)
            if value <= 0:
                continue
            h = value / top * plot_h
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{_color(j)}">'
                         f'<title>{escape(day)} {escape(name)}: {escape(unit)}{value:,.4f}</title></rect>')
        if len(days) <= 16 or i % max(len(days) // 8, 1) == 0:
            parts.append(f'<text x="{x:.1f}" y="{height - 6}" font-size="9">{escape(day[5:])}</text>')
    legend = "".join(f'<span class="legend"><i style="background:{_color(j)}"></i>{escape(n)}</span>'
                     for j, n in enumerate(names))
    svg = (f'<svg class="chart" role="img" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}">{"".join(parts)}</svg><div>{legend}</div>')
    return Markup(svg)  # noqa: S704 - built from numbers and escaped labels only
