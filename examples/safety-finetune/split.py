"""Split the ``core`` behaviour set into training and held-out behaviour files.

A harmful behaviour and its benign look-alike (their ``pair``) always land on the same side,
by the same hash that ``redline export --split-by behavior`` uses, so the held-out scan never
sees a behaviour (or its mirror) that the model was trained on.

    python split.py OUT_DIR [--test-fraction 0.3] [--seed 0] [--per-category 10]

``--per-category 10`` (the default) keeps the first ten harmful behaviours of each category in
the file and their look-alikes: the 120 + 120 that the results in README.md were measured on
(``core`` has grown since); ``--per-category 0`` takes the whole set.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from redline.behaviors import load_builtin
from redline.export.split import in_test
from redline.model import Behavior


def first_per_category(behaviors: list[Behavior], limit: int) -> list[Behavior]:
    """The first ``limit`` harmful behaviours of each category, in file order, and their pairs."""
    if limit <= 0:
        return behaviors
    kept: set[str] = set()
    counts: dict[str, int] = {}
    for behavior in behaviors:
        if not behavior.benign and counts.get(behavior.category, 0) < limit:
            counts[behavior.category] = counts.get(behavior.category, 0) + 1
            kept.add(behavior.id)
    return [b for b in behaviors if b.id in kept or (b.benign and b.pair in kept)]


def main() -> None:
    """Write ``OUT_DIR/train_behaviors.jsonl`` and ``OUT_DIR/heldout_behaviors.jsonl``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-category", type=int, default=10)
    args = parser.parse_args()
    sides: dict[str, list[dict]] = {"train": [], "heldout": []}
    for behavior in first_per_category(load_builtin("core"), args.per_category):
        group = min(behavior.id, behavior.pair) if behavior.pair else behavior.id
        side = "heldout" if in_test(group, args.test_fraction, args.seed) else "train"
        row = asdict(behavior)
        row["behavior"] = row.pop("goal")
        row["tags"] = list(row["tags"])
        sides[side].append({k: v for k, v in row.items() if v not in (None, [], False)})
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for side, rows in sides.items():
        path = args.out_dir / f"{side}_behaviors.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        harmful = sum(not row.get("benign") for row in rows)
        print(f"{path}: {harmful} harmful behaviours, {len(rows) - harmful} look-alikes")


if __name__ == "__main__":
    main()
