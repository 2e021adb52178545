"""Peak memory of loading a large behaviour file with ``sample:``, against a bare import.

Writes a JSONL behaviour file of ``--rows`` rows (synthetic goals over 12 categories, every
fourth row a benign look-alike paired with the row before it) in a temporary folder, then, each
in its own process: imports redline only (the baseline), and loads the file with ``sample:
--sample`` through ``redline.config.load_behaviors``. Reports peak RSS (``getrusage``
maxrss), the ratio to the baseline and the time. Goal: under 150 MB for a million rows.

Usage: python benchmarks/behaviors_memory.py [--rows 1000000] [--sample 100]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CATEGORIES = 12
BASELINE = """
import resource, time
start = time.perf_counter()
import redline.config
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter() - start, 0)
"""
LOAD = """
import resource, sys, time
start = time.perf_counter()
from redline.config import BehaviorSource, load_behaviors
chosen = load_behaviors([BehaviorSource(file=sys.argv[1], sample=int(sys.argv[2]))], seed=0)
took = time.perf_counter() - start
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, took, len(chosen))
"""


def write_file(path: Path, rows: int) -> None:
    """``rows`` behaviours: harmful ones, each fourth row the look-alike of the one before."""
    with path.open("w", encoding="utf-8") as handle:
        for i in range(rows):
            row = {"id": f"syn-{i}", "behavior": f"placeholder goal {i}"}
            row["category"] = f"category_{(i // 2) % CATEGORIES}"
            if i % 4 == 3:
                row |= {"benign": True, "pair": f"syn-{i - 1}"}
            handle.write(json.dumps(row) + "\n")


def measure(script: str, *args: str) -> tuple[float, float, int]:
    """Peak RSS in MB, seconds and behaviours selected, from a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", script, *args], check=True, capture_output=True, text=True
    ).stdout.split()
    return int(out[0]) / 1024, float(out[1]), int(out[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "behaviors.jsonl"
        write_file(path, args.rows)
        size = path.stat().st_size / 1e6
        base_mb, base_s, _ = measure(BASELINE)
        load_mb, load_s, chosen = measure(LOAD, str(path), str(args.sample))
    print(f"file: {args.rows:,} rows, {size:.0f} MB; sample: {args.sample} -> {chosen} behaviours")
    print(f"{'':<28}{'peak RSS MB':>12}{'seconds':>10}")
    print(f"{'import redline (baseline)':<28}{base_mb:>12.1f}{base_s:>10.2f}")
    print(f"{'load_behaviors + sample':<28}{load_mb:>12.1f}{load_s:>10.2f}")
    verdict = "met" if load_mb < 150 else f"missed by {load_mb - 150:.0f} MB"
    print(f"ratio to baseline: {load_mb / base_mb:.2f}x; goal < 150 MB: {verdict}")


if __name__ == "__main__":
    main()
