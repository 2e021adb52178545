"""Planning: behaviours x attacks x repeats, with deterministic attempt ids and seeds.

The same config and seed give the same plan, in the same order, with the same ids: that is
what lets an interrupted run resume (stored ids are skipped) and two runs be compared.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from redline.attacks import Attack
from redline.attacks.base import attack_key
from redline.model import Behavior, PlannedAttempt


def attempt_id(behavior_id: str, attack_key: str, repeat: int, seed: int) -> str:
    r"""A 16-hex-digit id derived from what defines the attempt.

    ``surrogatepass``: a lone surrogate read from a data file (JSON ``"\ud800"``) still gives
    an id, and valid text gives the same bytes as plain UTF-8.
    """
    text = f"{behavior_id}\x1f{attack_key}\x1f{repeat}\x1f{seed}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def build_plan(
    behaviors: Sequence[Behavior],
    attacks: Sequence[Attack],
    benign_attacks: Sequence[Attack],
    *,
    repeats: int = 1,
    seed: int = 0,
) -> list[PlannedAttempt]:
    """Every attempt of a campaign, in a stable order (behaviour-major)."""
    plan: list[PlannedAttempt] = []
    for behavior in behaviors:
        for attack in benign_attacks if behavior.benign else attacks:
            key = attack_key(attack)
            for repeat in range(repeats):
                ident = attempt_id(behavior.id, key, repeat, seed)
                plan.append(
                    PlannedAttempt(
                        id=ident,
                        index=len(plan),
                        behavior=behavior,
                        attack_key=key,
                        repeat=repeat,
                        seed=int(ident[:8], 16),
                    )
                )
    return plan
