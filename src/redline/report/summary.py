"""Build a run's summary from the store (the dict behind ``report --format json``)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from redline.config import match_judge_label
from redline.engine.budget import spend_summary
from redline.errors import StoreError
from redline.report.correction import apply_correction
from redline.report.errors import run_error_causes
from redline.report.metrics import summarize_counted
from redline.report.stats import (
    SELF_BLEU_SAMPLE,
    SELF_BLEU_SEED,
    distinct_ns,
    self_bleu_of_tokens,
    tokens,
)
from redline.store import Store, schema, stream_rows
from redline.store.records import OutcomeRow


def run_summary(
    store: Store, run_id: str, judge: str | None = None, *, attempt_figures: bool = True
) -> dict[str, Any]:
    """Every figure of one run for one judge (the run's first judge by default).

    When the store holds a harm calibration of that judge (``redline judges eval --save``), the
    most recent one corrects its attack success rates (see :mod:`redline.report.correction`).
    With ``attempt_figures=False`` the two figures that read every stored transcript,
    ``diversity`` and ``success_at_n``, are left out: for the outputs that do not show them
    (the terminal table, JUnit, JSON Lines), a third to half of a large run's report time.
    """
    run = store.get_run(run_id)
    judges = json.loads(run["judges_json"])
    # identical verdict rows grouped in SQL: a few hundred (row, count) pairs, not one per verdict
    counted = store.outcome_counts(run_id)
    judged_by = sorted({row.judge for row, _ in counted} | set(judges))
    judge = match_judge_label(judge, judged_by) if judge else judges[0]
    if judge not in judged_by:
        raise StoreError(f"run {run_id} has no verdicts from judge {judge!r} (has: {judged_by})")
    by_judge: dict[str, list[tuple[OutcomeRow, int]]] = {name: [] for name in judged_by}
    for row, n in counted:
        by_judge[row.judge].append((row, n))
    per_judge = {name: summarize_counted(pairs, name) for name, pairs in by_judge.items()}
    attempts: dict[str, Any] = {}
    if attempt_figures:
        unsafe_ids = store.verdict_ids(run_id, judge, ("unsafe",))["unsafe"]
        diversity, success_at_n = _attempt_figures(store, run_id, unsafe_ids)
        attempts = {"diversity": diversity, "success_at_n": success_at_n}
    calls = store.call_totals(run_id)
    summary = {
        "run_id": run_id,
        "name": run["name"],
        "status": run["status"],
        "created_at": run["created_at"],
        "redline_version": run["redline_version"],
        "target": json.loads(run["target_json"]),
        "config": json.loads(run["config_json"]),
        "seed": run["seed"],
        "plan_size": run["plan_size"],
        "stored_attempts": store.judged_attempt_count(run_id),
        "judges": judged_by,
        **per_judge[judge],
        "judge_comparison": {
            name: {"totals": dict(figures["totals"]), "over_refusal": figures["over_refusal"]}
            for name, figures in per_judge.items()
        },
        "error_rates": error_rates(per_judge[judge]),
        "error_causes": run_error_causes(store, run_id, judge),
        **attempts,
        "calls": calls,
        "spend": spend_summary(calls, json.loads(run["config_json"])),
    }
    apply_correction(summary, store.latest_calibration(judge))
    return summary


def error_rates(figures: dict[str, Any]) -> dict[str, Any]:
    """Errors / attempts on harmful behaviours, on benign look-alikes, and over both.

    Each is ``{"error", "attempts", "rate"}`` (``rate`` is ``None`` without attempts).
    """
    harmful, benign = figures["totals"], figures["over_refusal"]
    rates = {}
    for name, error, attempts in (
        ("harmful", harmful["error"], harmful["attempts"]),
        ("benign", benign["error"], benign["attempts"]),
        ("all", harmful["error"] + benign["error"], harmful["attempts"] + benign["attempts"]),
    ):
        rates[name] = {
            "error": error,
            "attempts": attempts,
            "rate": error / attempts if attempts else None,
        }
    return rates


def _prompt_diversity(split: list[list[str]]) -> dict[str, Any]:
    """Self-BLEU (on a fixed sample), distinct-1 and distinct-2 of prompts split by ``tokens``."""
    distinct = distinct_ns(split, (1, 2)) if split else {1: None, 2: None}
    return {
        "prompts": len(split),
        "self_bleu": self_bleu_of_tokens(split),
        "self_bleu_of": min(len(split), SELF_BLEU_SAMPLE) if len(split) > 1 else 0,
        "distinct_1": distinct[1],
        "distinct_2": distinct[2],
    }


def success_against_n(firsts: list[int | None], limit: int | None = None) -> list[dict]:
    """Share of attempts that had succeeded within N samples, for N = 1 .. the largest index."""
    top = limit or max((f for f in firsts if f is not None), default=0)
    total = len(firsts)
    return [
        {"n": n, "asr": sum(1 for f in firsts if f is not None and f <= n) / total}
        for n in range(1, top + 1)
    ]


def _attempt_figures(
    store: Store, run_id: str, unsafe_ids: set[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One pass over the stored attempts: prompt diversity and success against N.

    Diversity (Self-BLEU, distinct-n) of the prompts sent (the last user message of each
    attempt): overall for the prompts that succeeded, and per attack for every prompt it sent
    on harmful behaviours (what an attacker-driven attack generated, next to its success
    rate). Success against N: for sampling attempts, the index of their first success
    (``None``: never), by attack.

    Self-BLEU reads at most :data:`~redline.report.stats.SELF_BLEU_SAMPLE` prompts per set, a
    sample drawn with a fixed seed when there are more, so this is linear in the attempts.
    """
    successful: list[list[str]] = []
    by_attack: dict[str, list[list[str]]] = {}
    firsts: dict[str, list[int | None]] = {}
    a = schema.attempts
    query = (
        select(a.c.id, a.c.benign, a.c.attack, a.c.error, a.c.transcript_json)
        .where(a.c.run_id == run_id)
        .order_by(a.c.idx)
    )
    loads = json.loads
    with store.engine.connect() as conn:
        # the driver's rows, only the columns read here (SQLAlchemy's row processing cost more
        # than the query); each prompt split once, shared by the sets it is in
        for aid, benign, attack, error, transcript_json in stream_rows(conn, query):
            unsafe = aid in unsafe_ids
            if benign and not unsafe:
                continue
            transcript = loads(transcript_json)
            prompt = next(
                (m["content"] for m in reversed(transcript["messages"]) if m["role"] == "user"),
                "",
            )
            words = tokens(prompt)
            if unsafe:
                successful.append(words)
            if benign:
                continue
            by_attack.setdefault(attack, []).append(words)
            meta = transcript.get("meta") or {}
            if "first_success_index" in meta and error is None:
                firsts.setdefault(attack, []).append(meta["first_success_index"])
    overall = _prompt_diversity(successful)
    diversity = {
        "successful_prompts": overall.pop("prompts"),
        **overall,
        "self_bleu_sample": {"limit": SELF_BLEU_SAMPLE, "seed": SELF_BLEU_SEED},
        "by_attack": {name: _prompt_diversity(p) for name, p in sorted(by_attack.items())},
    }
    success_at_n = {
        attack: {"attempts": len(values), "curve": success_against_n(values)}
        for attack, values in sorted(firsts.items())
    }
    return diversity, success_at_n
