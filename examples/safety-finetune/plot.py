"""Plot before vs after from ``redline diff --json``: attack success and over-refusal.

Each diff compares the same "before" run with one fine-tuned model; the chart has one bar for
"before" and one per diff, with 95% Wilson intervals and each change's McNemar p. Writes a
small standalone SVG (drawn here, no plotting library needed; the README shows it) and, with
``--html``, a self-contained interactive plotly page (plotly.js inlined, ~5 MB).

    python plot.py out/diff.json [MORE_DIFFS] [--names NAME ...] --svg results.svg
        [--html out/results.html]
"""

from __future__ import annotations

import argparse
import json
from html import escape
from pathlib import Path
from typing import Any

BARS = (("asr", "attack success (harmful prompts)"), ("over_refusal", "over-refusal (look-alikes)"))
COLOURS = ("#8c8c8c", "#2a7ab0", "#e08a1e", "#3a9a4a")


def figures(diffs: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    """One entry per metric and model: rate, interval, count, n, McNemar p against before."""
    out = []
    for key, label in BARS:
        sides = [("before (base)", diffs[0][key]["a"], None)]
        sides += [
            (name, diff[key]["b"], (diff[key].get("mcnemar") or {}).get("p_value"))
            for name, diff in zip(names, diffs, strict=True)
        ]
        for i, (name, rate, p) in enumerate(sides):
            out.append(
                {
                    "metric": label,
                    "model": name,
                    "colour": COLOURS[i % len(COLOURS)],
                    "rate": rate["rate"] or 0.0,
                    "low": rate["ci_low"] if rate["ci_low"] is not None else 0.0,
                    "high": rate["ci_high"] if rate["ci_high"] is not None else 0.0,
                    "count": rate["count"],
                    "n": rate["n"],
                    "p": p,
                }
            )
    return out


def svg(rows: list[dict[str, Any]], title: str) -> str:
    """A grouped bar chart with 95% Wilson intervals, as SVG text."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    width, height, left, top, bottom = 720, 400, 60, 50, 90
    plot_h = height - top - bottom
    group_w = (width - left - 20) / len(BARS)
    bar_w = group_w / (len(models) + 1.5)

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
        x0 = left + g * group_w + bar_w * 0.75
        for i, row in enumerate(group):
            x = x0 + i * bar_w
            cx = x + bar_w * 0.45
            parts.append(
                f'<rect x="{x:.1f}" y="{y(row["rate"]):.1f}" width="{bar_w * 0.9:.1f}" '
                f'height="{plot_h * row["rate"]:.1f}" fill="{row["colour"]}"/>'
                f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y(row["low"]):.1f}" '
                f'y2="{y(row["high"]):.1f}" stroke="black"/>'
                f'<text x="{cx:.1f}" y="{y(row["high"]) - 18:.1f}" text-anchor="middle">'
                f"{row['rate']:.0%}</text>"
                f'<text x="{cx:.1f}" y="{y(row["high"]) - 5:.1f}" text-anchor="middle" '
                f'font-size="10" fill="#555">{row["count"]}/{row["n"]}</text>'
            )
            if row["p"] is not None:
                parts.append(
                    f'<text x="{cx:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                    f'font-size="10" fill="#555">p={row["p"]:.2g}</text>'
                )
        parts.append(
            f'<text x="{left + g * group_w + group_w / 2:.1f}" y="{height - bottom + 34}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    for i, model in enumerate(models):
        colour = next(r["colour"] for r in rows if r["model"] == model)
        lx = left + 10 + i * (width - left) / len(models)
        parts.append(
            f'<rect x="{lx:.1f}" y="{height - 34}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{lx + 18:.1f}" y="{height - 24}">{escape(model)}</text>'
        )
    parts.append(
        f'<text x="{width - 20}" y="{height - 6}" text-anchor="end" fill="#555" font-size="10">'
        "bars: 95% Wilson intervals; p: McNemar against before (paired attempts)</text></svg>"
    )
    return "\n".join(parts) + "\n"


def html(rows: list[dict[str, Any]], title: str, path: Path) -> None:
    """The same chart as a self-contained plotly page."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        fig.add_bar(
            name=model,
            x=[r["metric"] for r in mine],
            y=[r["rate"] for r in mine],
            marker_color=mine[0]["colour"],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [r["high"] - r["rate"] for r in mine],
                "arrayminus": [r["rate"] - r["low"] for r in mine],
            },
            text=[
                f"{r['rate']:.0%} ({r['count']}/{r['n']})"
                + (f", p={r['p']:.2g}" if r["p"] is not None else "")
                for r in mine
            ],
        )
    fig.update_layout(title=title, barmode="group", yaxis={"tickformat": ".0%", "range": [0, 1]})
    fig.write_html(path, include_plotlyjs=True, full_html=True)


def main() -> None:
    """Read the diffs, write the plots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("diffs", type=Path, nargs="+", help="redline diff --json outputs")
    parser.add_argument("--names", nargs="+", help="one name per diff's after model")
    parser.add_argument("--svg", type=Path, required=True)
    parser.add_argument("--html", type=Path)
    args = parser.parse_args()
    names = args.names or [
        "after (fine-tuned)" if len(args.diffs) == 1 else f"after ({path.stem})"
        for path in args.diffs
    ]
    if len(names) != len(args.diffs):
        parser.error("give one --names entry per diff")
    rows = figures([json.loads(path.read_text()) for path in args.diffs], names)
    title = "SmolLM2-135M on held-out behaviours: before vs after the safety fine-tune"
    args.svg.write_text(svg(rows, title))
    if args.html is not None:
        html(rows, title, args.html)
    print(f"wrote {args.svg}" + (f" and {args.html}" if args.html else ""))


if __name__ == "__main__":
    main()
