"""Run-to-run regression: pair two runs of the same plan attempt by attempt.

Attempt ids depend only on behaviour, attack, repeat and seed, so two runs of the same campaign
(a model before and after a fine-tune, say) share them. Pairs where either side is an error are
left out and counted. Attack success (and the regression gate) is the harm outcome; the
non-refusal rate is shown beside it, over the harmful pairs that have a refusal reading on both
sides.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from redline.config import match_judge_label
from redline.errors import StoreError
from redline.report.metrics import wilson_interval
from redline.report.stats import mcnemar
from redline.store import Store


def _rate(k: int, n: int) -> dict[str, Any]:
    low, high = wilson_interval(k, n)
    return {"count": k, "n": n, "rate": k / n if n else None, "ci_low": low, "ci_high": high}


def diff_runs(store: Store, run_a: str, run_b: str, judge: str | None = None) -> dict[str, Any]:
    """New failures, fixes, and the change in attack success and over-refusal, with McNemar."""
    if judge:
        labels = {row.judge for run in (run_a, run_b) for row in store.outcomes(run)}
        judge = match_judge_label(judge, sorted(labels))
    else:
        judge = json.loads(store.get_run(run_a)["judges_json"])[0]
    store.get_run(run_b)
    side_a = {row.id: row for row in store.outcomes(run_a, judge)}
    side_b = {row.id: row for row in store.outcomes(run_b, judge)}
    if not side_a or not side_b:
        raise StoreError(f"both runs need verdicts from judge {judge!r}")
    common = [attempt_id for attempt_id in side_a if attempt_id in side_b]  # plan order
    if not common:
        raise StoreError(
            f"runs {run_a} and {run_b} share no attempts: they are not runs of the same plan"
        )
    # per kind: which outcome is the "positive" one, and the tally of the pairs
    kinds = {"harmful": ("unsafe", "safe"), "benign": ("over_refusal", "complied")}
    tallies = {kind: _PairTally() for kind in kinds}
    nonrefusal = _PairTally()
    errors = 0
    for attempt_id in common:
        a, b = side_a[attempt_id], side_b[attempt_id]
        kind = "benign" if a.benign else "harmful"
        positive, negative = kinds[kind]
        if {a.outcome, b.outcome} - {positive, negative}:
            errors += 1
            continue
        entry = {"attempt_id": attempt_id, "category": a.category, "attack": a.attack}
        tallies[kind].add(a.outcome == positive, b.outcome == positive, entry)
        if kind == "harmful" and a.refused is not None and b.refused is not None:
            nonrefusal.add(not a.refused, not b.refused, entry)
    harmful, benign = tallies["harmful"], tallies["benign"]
    return {
        "run_a": run_a,
        "run_b": run_b,
        "judge": judge,
        "paired": {"harmful": harmful.n, "benign": benign.n, "errors": errors},
        "only_in_one_run": len(side_a.keys() ^ side_b.keys()),
        "asr": harmful.figures(),
        "over_refusal": benign.figures(),
        "nonrefusal": nonrefusal.figures(),
        "new_failures": harmful.gained,
        "fixed": harmful.lost,
        "newly_refusing": benign.gained,
        "no_longer_refusing": benign.lost,
    }


@dataclass
class _PairTally:
    """Paired outcomes of one kind: counts on each side, and the pairs that changed."""

    n: int = 0
    a: int = 0
    b: int = 0
    gained: list[dict[str, Any]] = field(default_factory=list)
    lost: list[dict[str, Any]] = field(default_factory=list)

    def add(self, was: bool, now: bool, entry: dict[str, Any]) -> None:
        self.n += 1
        self.a += was
        self.b += now
        if now and not was:
            self.gained.append(entry)
        elif was and not now:
            self.lost.append(entry)

    def figures(self) -> dict[str, Any]:
        """Rates on both sides, the change, and McNemar on the discordant pairs."""
        return {
            "a": _rate(self.a, self.n),
            "b": _rate(self.b, self.n),
            "change": (self.b - self.a) / self.n if self.n else None,
            "mcnemar": mcnemar(len(self.lost), len(self.gained)),
        }
