"""Train/test split by behaviour: a behaviour and its look-alike never sit on both sides.

Attempts of one behaviour (every attack, every repeat) share a group, and so do a harmful
behaviour and its benign look-alike (their ``pair``), read from the run's behaviour sources when
they can still be loaded; otherwise each behaviour is its own group. A group goes to the test
side when the hash of (seed, group) falls below the test fraction: stable across exports and
independent of the order of the rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, TypeVar

from redline.errors import RedlineError
from redline.store import Store

T = TypeVar("T")


def behavior_groups(store: Store, run_id: str) -> dict[str, str]:
    """``{behaviour id: group}`` from the run's behaviour sources (``{}`` if they cannot load)."""
    from redline.config import load_behaviors, parse_campaign

    run = store.get_run(run_id)
    try:
        campaign = parse_campaign(json.loads(run["config_json"]), f"run {run_id}")
        behaviors = load_behaviors(campaign.sources(), campaign.seed)
    except (RedlineError, OSError, ValueError):
        return {}
    return {b.id: min(b.id, b.pair) if b.pair else b.id for b in behaviors}


def in_test(group: str, test_fraction: float, seed: int = 0) -> bool:
    """Whether ``group`` falls on the test side."""
    digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < test_fraction


def split_rows(
    rows: Iterable[dict[str, Any]], groups: dict[str, str], test_fraction: float, seed: int = 0
) -> dict[str, list[dict[str, Any]]]:
    """``{"train": [...], "test": [...]}`` by each row's ``behavior_id`` group."""
    out: dict[str, list[dict[str, Any]]] = {"train": [], "test": []}
    for row in rows:
        group = groups.get(row["behavior_id"], row["behavior_id"])
        out["test" if in_test(group, test_fraction, seed) else "train"].append(row)
    return out
