"""Plot before vs after from ``redline diff --json``: attack success and over-refusal.

Writes a small standalone SVG (drawn here, no plotting library needed; the README shows it)
and, with ``--html``, a self-contained interactive plotly page (plotly.js inlined, ~5 MB).

    python plot.py out/diff.json --svg results.svg --html out/results.html
"""

from __future__ import annotations

import argparse
import json
from html import escape
from pathlib import Path
from typing import Any

BARS = (("asr", "attack success (harmful prompts)"), ("over_refusal", "over-refusal (look-alikes)"))
COLOURS = {"a": "#8c8c8c", "b": "#2a7ab0"}
NAMES = {"a": "before (base)", "b": "after (fine-tuned)"}


def figures(diff: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per metric and side: rate, interval, count, n, McNemar p."""
    out = []
    for key, label in BARS:
        block = diff[key]
        for side in ("a", "b"):
            rate = block[side]
            out.append(
                {
                    "metric": label,
                    "side": side,
                    "rate": rate["rate"] or 0.0,
                    "low": rate["ci_low"] if rate["ci_low"] is not None else 0.0,
                    "high": rate["ci_high"] if rate["ci_high"] is not None else 0.0,
                    "count": rate["count"],
                    "n": rate["n"],
                    "p": (block.get("mcnemar") or {}).get("p_value"),
                }
            )
    return out


def svg(rows: list[dict[str, Any]], title: str) -> str:
    """A grouped bar chart with 95% Wilson intervals, as SVG text."""
    width, height, left, top, bottom = 640, 360, 60, 50, 70
    plot_h = height - top - bottom
    group_w = (width - left - 20) / len(BARS)
    bar_w = group_w / 4

    def y(value: float) -> float:
        return top + plot_h * (1 - value)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="14">{escape(title)}</text>',
    ]
    for tick in range(0, 101, 20):
        ty = y(tick / 100)
        parts.append(
            f'<line x1="{left}" x2="{width - 20}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#e5e5e5"/>'
            f'<text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end">{tick}%</text>'
        )
    for g, (_, label) in enumerate(BARS):
        group = [r for r in rows if r["metric"] == label]
        x0 = left + g * group_w + bar_w
        for i, row in enumerate(group):
            x = x0 + i * bar_w * 1.1
            parts.append(
                f'<rect x="{x:.1f}" y="{y(row["rate"]):.1f}" width="{bar_w:.1f}" '
                f'height="{plot_h * row["rate"]:.1f}" fill="{COLOURS[row["side"]]}"/>'
            )
            cx = x + bar_w / 2
            parts.append(
                f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y(row["low"]):.1f}" '
                f'y2="{y(row["high"]):.1f}" stroke="black"/>'
                f'<text x="{cx:.1f}" y="{y(row["high"]) - 5:.1f}" text-anchor="middle">'
                f"{row['rate']:.0%} ({row['count']}/{row['n']})</text>"
            )
        p = group[0]["p"]
        centre = left + g * group_w + group_w / 2
        parts.append(
            f'<text x="{centre:.1f}" y="{height - bottom + 18}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
        if p is not None:
            parts.append(
                f'<text x="{centre:.1f}" y="{height - bottom + 33}" text-anchor="middle" '
                f'fill="#555">McNemar p = {p:.2g}</text>'
            )
    for i, side in enumerate(("a", "b")):
        lx = left + 10 + i * 170
        parts.append(
            f'<rect x="{lx}" y="{height - 28}" width="12" height="12" fill="{COLOURS[side]}"/>'
            f'<text x="{lx + 18}" y="{height - 18}">{NAMES[side]}</text>'
        )
    parts.append(
        f'<text x="{width - 20}" y="{height - 18}" text-anchor="end" fill="#555">'
        "bars: 95% Wilson intervals</text></svg>"
    )
    return "\n".join(parts) + "\n"


def html(rows: list[dict[str, Any]], title: str, path: Path) -> None:
    """The same chart as a self-contained plotly page."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for side in ("a", "b"):
        mine = [r for r in rows if r["side"] == side]
        fig.add_bar(
            name=NAMES[side],
            x=[r["metric"] for r in mine],
            y=[r["rate"] for r in mine],
            marker_color=COLOURS[side],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [r["high"] - r["rate"] for r in mine],
                "arrayminus": [r["rate"] - r["low"] for r in mine],
            },
            text=[f"{r['rate']:.0%} ({r['count']}/{r['n']})" for r in mine],
        )
    fig.update_layout(title=title, barmode="group", yaxis={"tickformat": ".0%", "range": [0, 1]})
    fig.write_html(path, include_plotlyjs=True, full_html=True)


def main() -> None:
    """Read the diff, write the plots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("diff", type=Path, help="redline diff --json output")
    parser.add_argument("--svg", type=Path, required=True)
    parser.add_argument("--html", type=Path)
    args = parser.parse_args()
    diff = json.loads(args.diff.read_text())
    rows = figures(diff)
    title = "SmolLM2-135M on held-out behaviours: before vs after the safety fine-tune"
    args.svg.write_text(svg(rows, title))
    if args.html is not None:
        html(rows, title, args.html)
    print(f"wrote {args.svg}" + (f" and {args.html}" if args.html else ""))


if __name__ == "__main__":
    main()
