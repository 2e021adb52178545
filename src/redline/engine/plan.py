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
    append = plan.append
    # An attack's key is worked out from its options: once per attack, not once per behaviour.
    keys = [attack_key(attack) for attack in attacks]
    benign_keys = [attack_key(attack) for attack in benign_attacks]
    for behavior in behaviors:
        for key in benign_keys if behavior.benign else keys:
            for repeat in range(repeats):
                ident = attempt_id(behavior.id, key, repeat, seed)
                append(PlannedAttempt(ident, len(plan), behavior, key, repeat, int(ident[:8], 16)))
    return plan
