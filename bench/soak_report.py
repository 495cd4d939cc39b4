"""The soak's report (bench/soak.sh): soak.md and soak.svg beside soak.csv, one row per wrk run.

soak.md holds the RSS after load (the first run), its maximum and last value, throughput, p99 and CPU per request of
the first runs against the last ones, and PASS/MISS against issue 14's goals. soak.svg holds two line charts, RSS and
req/s against requests, written by hand: the project has no plotting library.
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path
from xml.sax.saxutils import escape

RSS_GOAL_MB = 150.0
FLAT = 0.10  # "within 10 %", either way
COLORS = ("#1f77b4", "#d62728", "#2ca02c")
Row = dict[str, float]


def read_rows(path: Path) -> list[Row]:
    """The CSV's rows, every value a number."""
    with path.open(newline="") as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def change(start: float, end: float) -> str:
    return f"{(end - start) / start * 100:+.1f} %" if start else "-"


def summary(rows: list[Row], title: str, notes: list[str]) -> str:
    """The markdown report."""
    k = max(1, min(3, len(rows) // 2))  # first and last k runs never overlap
    first, last = rows[:k], rows[-k:]
    load = rows[0]["tree_rss_mb"]
    peak = max(rows, key=lambda r: r["tree_rss_mb"])
    low = min(r["tree_rss_mb"] for r in rows)
    rps0, rps1 = mean([r["rps"] for r in first]), mean([r["rps"] for r in last])
    out = [f"# {title}", "", f"{int(rows[-1]['requests']):,} requests in {len(rows)} wrk runs over "
           f"{rows[-1]['elapsed_s']:,.0f} s; after load = after the first run ({int(rows[0]['requests']):,} requests).",
           "", "| RSS (MB) | after load | max | last | last vs after load |", "|---|---:|---:|---:|---:|"]
    for name, col in (("process tree", "tree_rss_mb"), ("worker (serve)", "worker_rss_mb"),
                      ("shipper (ship)", "ship_rss_mb"), ("process tree, PSS (shared pages split)", "tree_pss_mb")):
        top = max(r[col] for r in rows)
        out.append(f"| {name} | {rows[0][col]:.1f} | {top:.1f} | {rows[-1][col]:.1f} | "
                   f"{change(rows[0][col], rows[-1][col])} |")
    out += ["", f"| mean of the first {k} / last {k} runs | first | last | change |", "|---|---:|---:|---:|"]
    for name, col, fmt in (("req/s", "rps", ".0f"), ("p50 (ms)", "p50_ms", ".2f"), ("p99 (ms)", "p99_ms", ".2f"),
                           ("CPU per request, tree (µs)", "cpu_us_per_req", ".0f")):
        a, b = mean([r[col] for r in first]), mean([r[col] for r in last])
        out.append(f"| {name} | {a:{fmt}} | {b:{fmt}} | {change(a, b)} |")
    out += ["", f"Database at the end: {rows[-1]['db_mb']:.1f} MB (after load {rows[0]['db_mb']:.1f} MB); journal "
            f"{rows[-1]['journal_mb']:.1f} MB. Errors: {int(sum(r['errors'] for r in rows))}.", "",
            "| goal | measured | result |", "|---|---|---|"]
    spread = f"{change(load, low)} to {change(load, peak['tree_rss_mb'])}"
    goals = ((f"process tree RSS <= {RSS_GOAL_MB:.0f} MB after load", f"{load:.1f} MB", load <= RSS_GOAL_MB),
             ("tree RSS within 10 % of after-load to the end", f"{spread} (max at {int(peak['requests']):,})",
              all(abs(r["tree_rss_mb"] - load) <= FLAT * load for r in rows)),
             ("end throughput within 10 % of the start", f"{rps0:.0f} -> {rps1:.0f} req/s ({change(rps0, rps1)})",
              abs(rps1 - rps0) <= FLAT * rps0))
    out += [f"| {goal} | {got} | {'PASS' if ok else 'MISS'} |" for goal, got, ok in goals]
    if len(rows) < 6:
        out += ["", f"Only {len(rows)} runs: the start and the end are the first and last {k}, too few to judge."]
    return "\n".join([*out, "", *(f"- {n}" for n in notes), "", "![RSS and req/s against requests](soak.svg)", ""])


def nice_step(span: float, ticks: int = 4) -> float:
    """A round tick step (1, 2, 2.5 or 5 times a power of ten) giving about `ticks` ticks over `span`."""
    raw = max(span, 1e-9) / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def count(v: float) -> str:
    return f"{v / 1e6:g}M" if v >= 1e6 else f"{v / 1e3:g}k" if v >= 1e3 else f"{v:g}"


def chart(left: float, title: str, xs: list[float], series: dict[str, list[float]], goal: float | None) -> list[str]:
    """One line chart in a 440 x 300 box at `left`: axes, ticks, a polyline per series, a legend."""
    x0, y0, w, h = left + 50, 40.0, 370.0, 210.0  # the plot area
    top = max([*(max(v) for v in series.values()), goal or 0]) * 1.05
    ystep = nice_step(top)
    ymax = ystep * math.ceil(top / ystep)
    xstep = nice_step(max(xs))
    xmax = xstep * math.ceil(max(xs) / xstep)

    def at(x: float, y: float) -> str:
        return f"{x0 + x / xmax * w:.1f},{y0 + h - y / ymax * h:.1f}"

    out = [f'<text x="{x0}" y="20" class="title">{escape(title)}</text>',
           f'<polyline points="{at(0, ymax)} {at(0, 0)} {at(xmax, 0)}" class="axis"/>']
    for i in range(round(ymax / ystep) + 1):
        y = y0 + h - i * ystep / ymax * h
        out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{i * ystep:g}</text>')
    for i in range(round(xmax / xstep) + 1):
        out.append(f'<text x="{x0 + i * xstep / xmax * w:.1f}" y="{y0 + h + 16}" text-anchor="middle">'
                   f"{count(i * xstep)}</text>")
    out.append(f'<text x="{x0 + w / 2}" y="{y0 + h + 34}" text-anchor="middle">requests</text>')
    if goal is not None:
        out.append(f'<polyline points="{at(0, goal)} {at(xmax, goal)}" class="goal"/>'
                   f'<text x="{x0 + w - 4}" y="{y0 + h - goal / ymax * h - 4:.1f}" text-anchor="end">'
                   f"goal {goal:g}</text>")
    for i, (name, ys) in enumerate(series.items()):
        color, lx = COLORS[i % len(COLORS)], x0 + w - 75 * (len(series) - i)  # the legend: right of the title
        out.append(f'<polyline points="{" ".join(at(x, y) for x, y in zip(xs, ys, strict=True))}" '
                   f'fill="none" stroke="{color}" stroke-width="1.5"/>'
                   f'<line x1="{lx}" y1="16" x2="{lx + 20}" y2="16" stroke="{color}" stroke-width="2"/>'
                   f'<text x="{lx + 25}" y="20">{escape(name)}</text>')
    return out


def svg(rows: list[Row]) -> str:
    """Both charts side by side."""
    xs = [r["requests"] for r in rows]
    rss = {name: [r[col] for r in rows] for name, col in
           (("tree", "tree_rss_mb"), ("worker", "worker_rss_mb"), ("ship", "ship_rss_mb"))}
    body = [*chart(0, "RSS (MB)", xs, rss, RSS_GOAL_MB), *chart(450, "req/s", xs, {"req/s": [r["rps"] for r in rows]},
                                                                None)]
    style = ("text{font:11px sans-serif;fill:#333}.title{font-size:13px;font-weight:bold}"
             ".axis{fill:none;stroke:#333}.grid{stroke:#ddd}.goal{fill:none;stroke:#999;stroke-dasharray:4 3}")
    return "\n".join(['<svg xmlns="http://www.w3.org/2000/svg" width="900" height="300" viewBox="0 0 900 300">',
                      f'<rect width="900" height="300" fill="white"/><style>{style}</style>', *body, "</svg>", ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("csv", type=Path, help="soak.csv written by bench/soak.sh")
    parser.add_argument("--title", default="Steward soak")
    parser.add_argument("--note", action="append", default=[], help="a line under the tables (repeatable)")
    args = parser.parse_args()
    rows = read_rows(args.csv)
    if not rows:
        raise SystemExit(f"{args.csv}: no rows")
    args.csv.with_name("soak.md").write_text(summary(rows, args.title, args.note))
    args.csv.with_name("soak.svg").write_text(svg(rows))


if __name__ == "__main__":
    main()
