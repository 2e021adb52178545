"""The self-contained HTML report: one file, no network fetches, model output escaped.

Plots are Plotly figures; plotly.js is inlined once. Every piece of text that comes from a run
(model output, prompts, behaviour names, category names) is escaped by Jinja2's autoescaping, and
figure data is embedded as JSON with ``<``, ``>`` and ``&`` escaped, so hostile markup in a reply
stays inert text.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import jinja2
from sqlalchemy import select

from redline import __version__
from redline.behaviors.taxonomy import CATEGORIES
from redline.engine.budget import usd
from redline.report.owasp import owasp_groups
from redline.report.records import stream_rows
from redline.report.text import pct, redacted
from redline.store import Store, schema

MAX_FINDINGS = 25
_SAFE_JSON = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def _figure_json(figure: Any) -> str:
    return figure.to_json().translate(_SAFE_JSON)


def _figures(summary: dict[str, Any]) -> dict[str, str]:
    import plotly.graph_objects as go

    layout = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "template": "plotly_white"}
    figures: dict[str, str] = {}
    cells = summary["by_category_attack"]
    categories = list(cells)
    attacks = list(summary["by_attack"])
    if categories and attacks:
        z, text = [], []
        for category in categories:
            row_z, row_text = [], []
            for attack in attacks:
                cell = cells[category].get(attack)
                asr = cell["asr"] if cell else None
                row_z.append(None if asr is None else round(100 * asr, 1))
                row_text.append(f"{cell['unsafe']}/{cell['judged']}" if cell else "")
            z.append(row_z)
            text.append(row_text)
        heat = go.Figure(
            go.Heatmap(
                z=z,
                x=attacks,
                y=categories,
                text=text,
                texttemplate="%{z:.0f}%<br>%{text}",
                colorscale="Reds",
                zmin=0,
                zmax=100,
                colorbar={"title": "ASR %"},
                hovertemplate="%{y} · %{x}<br>ASR %{z}% (%{text} unsafe/judged)<extra></extra>",
            )
        )
        heat.update_layout(
            title="Attack success rate by category and attack",
            height=120 + 32 * len(categories),
            yaxis={"autorange": "reversed"},
            **layout,
        )
        figures["heatmap"] = _figure_json(heat)
    points = []
    for category, figures_ in summary["by_category"].items():
        refusal = summary["over_refusal_by_category"].get(category)
        if figures_["asr"] is None or not refusal or refusal["rate"] is None:
            continue
        points.append((category, figures_, refusal))
    if points:
        trade = go.Figure(
            [
                go.Scatter(
                    x=[100 * r["rate"]],
                    y=[100 * f["asr"]],
                    name=category,
                    mode="markers",
                    marker={"size": 11},
                    error_x={
                        "type": "data",
                        "symmetric": False,
                        "array": [100 * (r["ci_high"] - r["rate"])],
                        "arrayminus": [100 * (r["rate"] - r["ci_low"])],
                    },
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [100 * (f["ci_high"] - f["asr"])],
                        "arrayminus": [100 * (f["asr"] - f["ci_low"])],
                    },
                    hovertemplate=(
                        "ASR %{y:.1f}%<br>over-refusal %{x:.1f}%<extra>%{fullData.name}</extra>"
                    ),
                )
                for category, f, r in points
            ]
        )
        trade.update_layout(
            title="Harmful vs helpful: attack success against over-refusal (95% intervals)",
            xaxis={"title": "over-refusal on benign look-alikes (%)", "range": [-5, 105]},
            yaxis={"title": "attack success rate (%)", "range": [-5, 105]},
            height=480,
            **layout,
        )
        figures["tradeoff"] = _figure_json(trade)
    if attacks:
        by_attack = summary["by_attack"]
        judged = [a for a in attacks if by_attack[a]["asr"] is not None]
        read = [a for a in judged if by_attack[a]["nonrefusal"] is not None]
        traces = [_rate_bars(by_attack, judged, "asr", "ci", "ASR (harm)", "#c0392b")]
        if read:
            traces.append(
                _rate_bars(by_attack, read, "nonrefusal", "nonrefusal_ci", "non-refusal", "#7f8c8d")
            )
        bars = go.Figure(traces)
        bars.update_layout(
            title="Attack success rate"
            + (" and non-refusal" if read else "")
            + " by attack (95% intervals)",
            xaxis={"title": "rate on harmful behaviours (%)", "range": [0, 105]},
            yaxis={"autorange": "reversed"},
            barmode="group",
            height=120 + (36 + 24 * bool(read)) * len(judged),
            **layout,
        )
        figures["attacks"] = _figure_json(bars)
    if summary.get("success_at_n"):
        curves = go.Figure(
            [
                go.Scatter(
                    x=[point["n"] for point in data["curve"]],
                    y=[100 * point["asr"] for point in data["curve"]],
                    mode="lines+markers",
                    name=f"{attack} ({data['attempts']} attempts)",
                )
                for attack, data in summary["success_at_n"].items()
            ]
        )
        curves.update_layout(
            title="Sampling attacks: success within N samples (the in-loop judge's verdicts)",
            xaxis={"title": "samples N"},
            yaxis={"title": "attack success (%)", "range": [0, 105]},
            height=380,
            **layout,
        )
        figures["success_at_n"] = _figure_json(curves)
    return figures


def _rate_bars(
    by_attack: dict[str, Any], names: list[str], key: str, ci: str, label: str, colour: str
) -> Any:
    """Horizontal bars of one rate per attack, with its asymmetric 95% interval."""
    import plotly.graph_objects as go

    return go.Bar(
        name=label,
        x=[100 * by_attack[a][key] for a in names],
        y=names,
        orientation="h",
        error_x={
            "type": "data",
            "symmetric": False,
            "array": [100 * (by_attack[a][f"{ci}_high"] - by_attack[a][key]) for a in names],
            "arrayminus": [100 * (by_attack[a][key] - by_attack[a][f"{ci}_low"]) for a in names],
        },
        marker_color=colour,
        hovertemplate=f"%{{y}}: {label} %{{x:.1f}}%<extra></extra>",
    )


def _findings(store: Store, run_id: str, judge: str, redact: bool) -> list[dict[str, Any]]:
    """The unsafe attempts (by ``judge``), most categories first, with their transcripts.

    One query reads the attempts ``judge`` found unsafe with their rationales (the verdicts'
    index finds them): only their transcripts are read and decoded, not the whole run's.
    """
    a, v = schema.attempts, schema.verdicts
    query = (
        select(
            a.c.id,
            a.c.behavior_id,
            a.c.category,
            a.c.attack,
            a.c.target_calls,
            a.c.transcript_json,
            v.c.rationale,
        )
        .join(v, (v.c.run_id == a.c.run_id) & (v.c.attempt_id == a.c.id))
        .where((a.c.run_id == run_id) & (v.c.judge == judge) & (v.c.outcome == "unsafe"))
        .order_by(a.c.idx)
    )
    chosen: list[dict[str, Any]] = []
    seen_categories: dict[str, int] = {}
    with store.engine.connect() as conn:
        for aid, behavior_id, category, attack, calls, transcript_json, why in stream_rows(
            conn, query
        ):
            transcript = json.loads(transcript_json)
            messages = [
                {
                    "role": m["role"],
                    "content": redacted(m["content"])
                    if redact and m["role"] == "assistant"
                    else m["content"],
                }
                for m in transcript["messages"]
            ]
            count = seen_categories.get(category, 0)
            seen_categories[category] = count + 1
            chosen.append(
                {
                    "rank": count,
                    "id": aid,
                    "behavior_id": behavior_id,
                    "goal": transcript.get("goal", ""),
                    "category": category,
                    "attack": attack,
                    "target_calls": calls,
                    "messages": messages,
                    "rationale": why,
                }
            )
    chosen.sort(key=lambda f: (f["rank"], f["category"]))
    return chosen[:MAX_FINDINGS]


def render_html(store: Store, summary: dict[str, Any], *, redact: bool = False) -> str:
    """The whole report as one HTML document."""
    from plotly.offline import get_plotlyjs

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("redline.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["pct"] = pct
    env.filters["usd"] = usd
    template = env.get_template("report.html.j2")
    mappings = [
        {"name": name, "category": CATEGORIES.get(name)}
        for name in sorted(set(summary["by_category"]) | set(summary["over_refusal_by_category"]))
    ]
    created = datetime.datetime.fromtimestamp(summary["created_at"], datetime.UTC)
    correction = summary.get("correction")
    return template.render(
        s=summary,
        correction=correction,
        correcting=bool(correction and not correction["too_weak"]),
        figures=_figures(summary),
        findings=_findings(store, summary["run_id"], summary["judge"], redact),
        redact=redact,
        mappings=mappings,
        owasp=owasp_groups(summary["by_category"]),
        created=created.strftime("%Y-%m-%d %H:%M UTC"),
        generated_by=__version__,
        config_json=json.dumps(summary["config"], indent=2),
        plotly_js=get_plotlyjs(),
    )
