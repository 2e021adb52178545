"""Run-to-run regression: pair two runs of the same plan attempt by attempt.

Attempt ids depend only on behaviour, attack, repeat and seed, so two runs of the same campaign
(a model before and after a fine-tune, say) share them. Pairs where either side is an error are
left out and counted.
"""

from __future__ import annotations

import json
from typing import Any

from redline.errors import StoreError
from redline.report.metrics import wilson_interval
from redline.report.stats import mcnemar
from redline.store import Store


def _rate(k: int, n: int) -> dict[str, Any]:
    low, high = wilson_interval(k, n)
    return {"count": k, "n": n, "rate": k / n if n else None, "ci_low": low, "ci_high": high}


def diff_runs(store: Store, run_a: str, run_b: str, judge: str | None = None) -> dict[str, Any]:
    """New failures, fixes, and the change in attack success and over-refusal, with McNemar."""
    judge = judge or json.loads(store.get_run(run_a)["judges_json"])[0]
    store.get_run(run_b)
    side_a = {row["id"]: row for row in store.outcomes(run_a, judge)}
    side_b = {row["id"]: row for row in store.outcomes(run_b, judge)}
    if not side_a or not side_b:
        raise StoreError(f"both runs need verdicts from judge {judge!r}")
    common = sorted(side_a.keys() & side_b.keys(), key=lambda i: side_a[i]["id"])
    if not common:
        raise StoreError(
            f"runs {run_a} and {run_b} share no attempts: they are not runs of the same plan"
        )
    harmful = {"unsafe": True, "safe": False}
    benign = {"over_refusal": True, "complied": False}
    new_failures, fixed, newly_refusing, no_longer_refusing = [], [], [], []
    counts = {"harmful": 0, "benign": 0, "errors": 0}
    unsafe_a = unsafe_b = refused_a = refused_b = 0
    for attempt_id in common:
        a, b = side_a[attempt_id], side_b[attempt_id]
        table = benign if a["benign"] else harmful
        if a["outcome"] not in table or b["outcome"] not in table:
            counts["errors"] += 1
            continue
        was, now = table[a["outcome"]], table[b["outcome"]]
        entry = {"attempt_id": attempt_id, "category": a["category"], "attack": a["attack"]}
        if a["benign"]:
            counts["benign"] += 1
            refused_a += was
            refused_b += now
            if now and not was:
                newly_refusing.append(entry)
            elif was and not now:
                no_longer_refusing.append(entry)
        else:
            counts["harmful"] += 1
            unsafe_a += was
            unsafe_b += now
            if now and not was:
                new_failures.append(entry)
            elif was and not now:
                fixed.append(entry)
    return {
        "run_a": run_a,
        "run_b": run_b,
        "judge": judge,
        "paired": counts,
        "only_in_one_run": len(side_a.keys() ^ side_b.keys()),
        "asr": {
            "a": _rate(unsafe_a, counts["harmful"]),
            "b": _rate(unsafe_b, counts["harmful"]),
            "change": (unsafe_b - unsafe_a) / counts["harmful"] if counts["harmful"] else None,
            "mcnemar": mcnemar(len(fixed), len(new_failures)),
        },
        "over_refusal": {
            "a": _rate(refused_a, counts["benign"]),
            "b": _rate(refused_b, counts["benign"]),
            "change": (refused_b - refused_a) / counts["benign"] if counts["benign"] else None,
            "mcnemar": mcnemar(len(no_longer_refusing), len(newly_refusing)),
        },
        "new_failures": new_failures,
        "fixed": fixed,
        "newly_refusing": newly_refusing,
        "no_longer_refusing": no_longer_refusing,
    }
