"""Split the ``core`` behaviour set into training and held-out behaviour files.

A harmful behaviour and its benign look-alike (their ``pair``) always land on the same side,
by the same hash that ``redline export --split-by behavior`` uses, so the held-out scan never
sees a behaviour (or its mirror) that the model was trained on.

    python split.py OUT_DIR [--test-fraction 0.3] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from redline.behaviors import load_builtin
from redline.export.split import in_test


def main() -> None:
    """Write ``OUT_DIR/train_behaviors.jsonl`` and ``OUT_DIR/heldout_behaviors.jsonl``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sides: dict[str, list[dict]] = {"train": [], "heldout": []}
    for behavior in load_builtin("core"):
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
