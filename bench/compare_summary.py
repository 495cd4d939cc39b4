"""The table of bench/compare.sh: Steward against Portkey and LiteLLM, from the peers harness's results.tsv.

Reads the rows run.sh wrote (one per target, stream mode and concurrency) and bench/ttfb.py's output, and writes
a markdown summary: one row per target, Steward streaming and time to first byte, and Steward's throughput ratio
to each peer at the highest concurrency against its goal. It measures nothing itself.
"""

from __future__ import annotations

import argparse
import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

TARGETS = ("direct", "steward", "portkey", "litellm")
# Steward's throughput over each peer's at the highest concurrency, as issue 14 asks.
GOALS = {"portkey": 3.0, "litellm": 50.0}
DASH = "\u2013"  # an en dash for "no value", as in docs/benchmarks.md's tables


@dataclass(slots=True, frozen=True)
class Row:
    """One run.sh row: a target at one concurrency, streaming or not."""

    rps: float
    p50_ms: float
    p99_ms: float
    added_p50_ms: float
    cpu_us: float
    rss_mb: float
    errors: int
    upstream_per_req: float
    requests: int


@dataclass(slots=True, frozen=True)
class Ttfb:
    """bench/ttfb.py's result: streaming time to first byte, direct and through Steward."""

    direct_p50: float
    steward_p50: float
    steward_p99: float
    added_p50: float
    requests: int


def _num(text: str) -> float:
    return float(text) if text else math.nan


def read_rows(path: Path) -> dict[tuple[str, str, int], Row]:
    """Saturation rows of the Anthropic format by (target, stream, concurrency); the latest row wins."""
    rows: dict[tuple[str, str, int], Row] = {}
    with path.open(newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            if r["mode"] != "saturation" or r["format"] != "anthropic":
                continue
            rows[(r["target"], r["stream"], int(r["conc"]))] = Row(
                rps=_num(r["rps"]), p50_ms=_num(r["p50_ms"]), p99_ms=_num(r["p99_ms"]),
                added_p50_ms=_num(r["added_p50_ms"]), cpu_us=_num(r["cpu_us_per_req"]), rss_mb=_num(r["rss_mb"]),
                errors=int(r["errors"] or 0), upstream_per_req=_num(r["upstream_per_req"]),
                requests=int(r["requests"] or 0))
    return rows


def read_ttfb(path: Path | None, requests: int) -> Ttfb | None:
    """Parse ttfb.py's three lines, or None when it did not run."""
    if path is None or not path.is_file():
        return None
    text = path.read_text()
    found = {m[0]: (float(m[1]), float(m[2]))
             for m in re.findall(r"^(\w+)\s+ttfb p50 ([\d.]+) ms\s+p99 ([\d.]+) ms", text, re.M)}
    added = re.search(r"^added ttfb p50 (-?[\d.]+) ms", text, re.M)
    if "direct" not in found or "steward" not in found or added is None:
        return None
    return Ttfb(direct_p50=found["direct"][0], steward_p50=found["steward"][0], steward_p99=found["steward"][1],
                added_p50=float(added[1]), requests=requests)


def rate(x: float) -> str:
    """Requests per second: one decimal below 100, else whole with thousands separators."""
    if math.isnan(x):
        return DASH
    return f"{x:.1f}" if x < 100 else f"{x:,.0f}"


def ms(x: float) -> str:
    if math.isnan(x):
        return DASH
    return f"{x:.3f}" if abs(x) < 10 else f"{x:.1f}"


def whole(x: float, suffix: str = "") -> str:
    return DASH if math.isnan(x) else f"{x:,.0f}{suffix}"


def missing(target: str, failed: list[str]) -> str:
    return "failed (see console.txt)" if any(f.split()[0] == target for f in failed) else "not measured"


def target_row(label: str, target: str, concs: list[int], rows: dict[tuple[str, str, int], Row],
               failed: list[str]) -> list[str]:
    """A target's non-streaming row: req/s per concurrency, latency at c=1, CPU and RSS at the highest."""
    first, top = rows.get((target, "0", concs[0])), rows.get((target, "0", concs[-1]))
    if first is None and top is None:
        return [label, missing(target, failed), "", "", "", ""]
    cpu = whole(top.cpu_us) if top else DASH
    return [
        label,
        " / ".join(rate(rows[(target, "0", c)].rps) if (target, "0", c) in rows else DASH for c in concs),
        DASH if target == "direct" or first is None else ms(first.added_p50_ms),
        ms(first.p99_ms) if first else DASH,
        f"{cpu} (nginx)" if target == "direct" else cpu,
        whole(top.rss_mb, " MB") if top else DASH,
    ]


def streaming_rows(rows: dict[tuple[str, str, int], Row], ttfb: Ttfb | None, failed: list[str]) -> list[list[str]]:
    """Streaming at concurrency 1 (Steward, and Portkey's streamfix variant when it ran), then Steward's TTFB."""
    short = {"steward": "Steward", "portkey-sf": "Portkey (streamfix variant)"}
    out = []
    for target in ("steward", "portkey-sf"):
        s = rows.get((target, "1", 1))
        if s is not None:
            out.append([f"{short[target]}, streaming c=1", rate(s.rps), ms(s.added_p50_ms), ms(s.p99_ms),
                        f"{whole(s.cpu_us)} (c=1)", whole(s.rss_mb, " MB")])
        elif target == "steward" and ("steward", "0", 1) in rows:
            out.append([f"{short[target]}, streaming c=1", missing(target, failed), "", "", "", ""])
    if ttfb is not None:
        out.append(["Steward, streaming time to first byte", DASH,
                    f"{ms(ttfb.added_p50)} (TTFB)", f"{ms(ttfb.steward_p99)} (TTFB)", DASH, DASH])
    return out


def ratio_lines(concs: list[int], rows: dict[tuple[str, str, int], Row]) -> list[str]:
    """Steward's req/s over each peer's at the highest concurrency, with its goal and PASS or MISS."""
    top = concs[-1]
    steward = rows.get(("steward", "0", top))
    lines = []
    for peer, goal in GOALS.items():
        other = rows.get((peer, "0", top))
        name = "Portkey" if peer == "portkey" else "LiteLLM"
        if steward is None or other is None or not other.rps:
            lines.append(f"- Steward / {name} req/s at c={top}: not measured (goal >= {goal:g}x)")
            continue
        ratio = steward.rps / other.rps
        verdict = "PASS" if ratio >= goal else "MISS"
        lines.append(f"- Steward / {name} req/s at c={top}: **{ratio:.2f}x** "
                     f"({rate(steward.rps)} / {rate(other.rps)}; goal >= {goal:g}x): **{verdict}**")
    return lines


def warnings(rows: dict[tuple[str, str, int], Row]) -> list[str]:
    """Rows whose numbers need a second look: errors, or not exactly one upstream call per request."""
    out = []
    for (target, stream, conc), r in sorted(rows.items()):
        where = f"{target} c={conc}{' streaming' if stream == '1' else ''}"
        if r.errors:
            out.append(f"- {where}: {r.errors} errors (non-2xx or socket errors) during the run")
        # Requests still in flight when wrk stops reach the upstream but are not counted as completed.
        in_flight = conc / r.requests if r.requests else 0.0
        if not math.isnan(r.upstream_per_req) and not 1.0 - 0.005 <= r.upstream_per_req <= 1.005 + in_flight:
            out.append(f"- {where}: {r.upstream_per_req:.3f} upstream requests per client request")
    return out


def render(concs: list[int], labels: dict[str, str], rows: dict[tuple[str, str, int], Row], ttfb: Ttfb | None,
           notes: list[str], failed: list[str]) -> str:
    c = " / ".join(str(x) for x in concs)
    header = ["Target", f"req/s c={c}", "added p50 c=1 (ms)", "p99 c=1 (ms)", f"CPU µs/req c={concs[-1]}",
              "RSS after load"]
    table = [header, ["---"] * len(header)]
    table += [target_row(labels.get(t, t), t, concs, rows, failed) for t in TARGETS]
    table += streaming_rows(rows, ttfb, failed)
    lines = ["# Steward against Portkey and LiteLLM (bench/compare.sh)", ""]
    if notes:
        lines += [*(f"- {n}" for n in notes), ""]
    lines += ["| " + " | ".join(r) + " |" for r in table]
    lines += ["", *ratio_lines(concs, rows)]
    if ttfb is not None:
        lines += ["", f"Streaming time to first byte (bench/ttfb.py, {ttfb.requests:,} sequential requests each): "
                      f"direct p50 {ms(ttfb.direct_p50)} ms, Steward p50 {ms(ttfb.steward_p50)} ms, "
                      f"added {ms(ttfb.added_p50)} ms."]
    problems = [f"- {f}: failed, see console.txt" for f in failed] + warnings(rows)
    if problems:
        lines += ["", "Check before quoting:", *problems]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="the harness's results.tsv")
    parser.add_argument("--ttfb", type=Path, help="bench/ttfb.py's output")
    parser.add_argument("--ttfb-requests", type=int, default=2000, help="requests ttfb.py sent to each target")
    parser.add_argument("--out", type=Path, help="write the summary here too")
    parser.add_argument("--label", action="append", default=[], metavar="TARGET=TEXT", help="a target's name")
    parser.add_argument("--note", action="append", default=[], help="a sentence above the table")
    parser.add_argument("--failed", action="append", default=[], help="a measurement that failed")
    args = parser.parse_args()
    rows = read_rows(args.results)
    concs = sorted({conc for (target, stream, conc) in rows if stream == "0"})
    if not concs:
        raise SystemExit(f"{args.results}: no non-streaming rows")
    labels = dict(item.split("=", 1) for item in args.label)
    text = render(concs, labels, rows, read_ttfb(args.ttfb, args.ttfb_requests), args.note, args.failed)
    print(text, end="")
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
