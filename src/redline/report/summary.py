"""Build a run's summary from the store (the dict behind ``report --format json``)."""

from __future__ import annotations

import json
from typing import Any

from redline.errors import StoreError
from redline.report.metrics import summarize
from redline.store import Store


def run_summary(store: Store, run_id: str, judge: str | None = None) -> dict[str, Any]:
    """Every figure of one run for one judge (the run's first judge by default)."""
    run = store.get_run(run_id)
    judges = json.loads(run["judges_json"])
    judged_by = sorted({row["judge"] for row in store.outcomes(run_id)} | set(judges))
    judge = judge or judges[0]
    if judge not in judged_by:
        raise StoreError(f"run {run_id} has no verdicts from judge {judge!r} (has: {judged_by})")
    figures = summarize(store.outcomes(run_id, judge), judge)
    stored = len(store.done_attempt_ids(run_id))
    return {
        "run_id": run_id,
        "name": run["name"],
        "status": run["status"],
        "created_at": run["created_at"],
        "redline_version": run["redline_version"],
        "target": json.loads(run["target_json"]),
        "seed": run["seed"],
        "plan_size": run["plan_size"],
        "stored_attempts": stored,
        "judges": judged_by,
        **figures,
        "calls": store.call_totals(run_id),
    }
