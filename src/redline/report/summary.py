"""Build a run's summary from the store (the dict behind ``report --format json``)."""

from __future__ import annotations

import json
from typing import Any

from redline.errors import StoreError
from redline.report.metrics import summarize
from redline.report.stats import distinct_n, self_bleu
from redline.store import Store


def run_summary(store: Store, run_id: str, judge: str | None = None) -> dict[str, Any]:
    """Every figure of one run for one judge (the run's first judge by default)."""
    run = store.get_run(run_id)
    judges = json.loads(run["judges_json"])
    rows = store.outcomes(run_id)
    judged_by = sorted({row["judge"] for row in rows} | set(judges))
    judge = judge or judges[0]
    if judge not in judged_by:
        raise StoreError(f"run {run_id} has no verdicts from judge {judge!r} (has: {judged_by})")
    figures = summarize([row for row in rows if row["judge"] == judge], judge)
    curves: dict[str, list] = {}
    unsafe_ids = {row["id"] for row in rows if row["judge"] == judge and row["outcome"] == "unsafe"}
    stored = len({row["id"] for row in rows})
    diversity = _diversity(store, run_id, unsafe_ids, curves)  # also fills ``curves``
    return {
        "run_id": run_id,
        "name": run["name"],
        "status": run["status"],
        "created_at": run["created_at"],
        "redline_version": run["redline_version"],
        "target": json.loads(run["target_json"]),
        "config": json.loads(run["config_json"]),
        "seed": run["seed"],
        "plan_size": run["plan_size"],
        "stored_attempts": stored,
        "judges": judged_by,
        **figures,
        "judge_comparison": _judge_comparison(rows, judged_by),
        "diversity": diversity,
        "success_at_n": {
            attack: {"attempts": len(firsts), "curve": success_against_n(firsts)}
            for attack, firsts in sorted(curves.items())
        },
        "calls": store.call_totals(run_id),
    }


def _judge_comparison(rows: list[dict[str, Any]], judges: list[str]) -> dict[str, Any]:
    """Attack success and over-refusal per judge, side by side."""
    out = {}
    for name in judges:
        figures = summarize([row for row in rows if row["judge"] == name], name)
        out[name] = {"totals": figures["totals"], "over_refusal": figures["over_refusal"]}
    return out


def _prompt_diversity(prompts: list[str]) -> dict[str, Any]:
    return {
        "prompts": len(prompts),
        "self_bleu": self_bleu(prompts),
        "distinct_1": distinct_n(prompts, 1) if prompts else None,
        "distinct_2": distinct_n(prompts, 2) if prompts else None,
    }


def _count_first_success(attempt: dict[str, Any], curves: dict[str, list]) -> None:
    """Collect the first-success index of sampling attempts (``None``: never succeeded)."""
    meta = attempt["transcript"].get("meta") or {}
    if "first_success_index" in meta and not attempt["benign"] and attempt["error"] is None:
        curves.setdefault(attempt["attack"], []).append(meta["first_success_index"])


def success_against_n(firsts: list[int | None], limit: int | None = None) -> list[dict]:
    """Share of attempts that had succeeded within N samples, for N = 1 .. the largest index."""
    top = limit or max((f for f in firsts if f is not None), default=0)
    total = len(firsts)
    return [
        {"n": n, "asr": sum(1 for f in firsts if f is not None and f <= n) / total}
        for n in range(1, top + 1)
    ]


def _diversity(
    store: Store, run_id: str, unsafe_ids: set[str], curves: dict[str, list] | None = None
) -> dict[str, Any]:
    """Self-BLEU and distinct-n of the prompts sent (the last user message of each attempt).

    Overall for the prompts that succeeded, and per attack for every prompt it sent on
    harmful behaviours (what an attacker-driven attack generated, next to its success rate).
    """
    curves = {} if curves is None else curves
    successful: list[str] = []
    by_attack: dict[str, list[str]] = {}
    for attempt in store.iter_attempts(run_id):
        _count_first_success(attempt, curves)
        prompt = next(
            (
                m["content"]
                for m in reversed(attempt["transcript"]["messages"])
                if m["role"] == "user"
            ),
            "",
        )
        if attempt["id"] in unsafe_ids:
            successful.append(prompt)
        if not attempt["benign"]:
            by_attack.setdefault(attempt["attack"], []).append(prompt)
    overall = _prompt_diversity(successful)
    return {
        "successful_prompts": overall.pop("prompts"),
        **overall,
        "by_attack": {name: _prompt_diversity(p) for name, p in sorted(by_attack.items())},
    }
