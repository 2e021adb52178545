"""Time of a run's reports on large stores (default 10,000, 30,000 and 100,000 attempts).

Builds (or, with ``--db DIR``, reuses) one synthetic store per size with
``benchmarks/webapp.py``'s ``build_store`` (one run, 12 categories x 10 attacks, benign
look-alikes, two judges, one to three calls per attempt), then times in-process, through the
CLI (click's runner, output to a file): ``redline report RUN`` as the terminal table and as
``--format json``, ``html``, ``junit`` and ``jsonl``, and ``redline runs``. Each is shown in
seconds and in seconds per 1,000 attempts, so that linearity shows (the per-1,000 figure stays
flat as the size grows), and as a ratio to the baseline timed in the same run: reading every
``attempts`` row (transcripts decoded) with plain ``sqlite3``. The issue's goal: a
100,000-attempt report in under 5 s, time linear in attempts.

With ``--sha256``, the SHA-256 of each output is printed too (on stderr), so that a change
meant to be faster only can be checked to write the same bytes: run it before and after.

Usage: python benchmarks/report.py [--sizes 10000,30000,100000] [--repeat 1] [--db DIR]
       [--json] [--profile FORMAT] [--sha256]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import pstats
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))

from redline.cli import cli
from webapp import RUN_ID, build_store

FORMATS = ("table", "json", "html", "junit", "jsonl")


def baseline(db: Path) -> float:
    """Seconds to read every attempts row of the run with sqlite3, transcripts decoded."""
    started = time.perf_counter()
    with sqlite3.connect(db) as conn:
        for row in conn.execute("SELECT * FROM attempts WHERE run_id = ? ORDER BY idx", (RUN_ID,)):
            json.loads(row[9])
    return time.perf_counter() - started


def command(db: Path, name: str, out: Path) -> list[str]:
    """The CLI arguments for one timed command."""
    if name == "runs":
        return ["runs", "--db", str(db)]
    return ["report", RUN_ID, "--format", name, "-o", str(out), "--db", str(db)]


def timed(db: Path, name: str, out: Path, profile: bool = False) -> float:
    """Seconds of one command, in-process (it must exit 0)."""
    runner = CliRunner()
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    result = runner.invoke(cli, command(db, name, out), catch_exceptions=False)
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - started
    if result.exit_code != 0:
        raise SystemExit(f"{name} exited {result.exit_code}: {result.output[-2000:]}")
    if profiler:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
    return elapsed


def store_for(size: int, folder: Path) -> Path:
    """The store of ``size`` attempts in ``folder``, built when it is not there yet."""
    db = folder / f"report-{size}.db"
    if not db.exists():
        started = time.perf_counter()
        build_store(db, size)
        print(f"built {db} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return db


def measure(
    sizes: list[int], folder: Path, repeat: int, profile: str | None, sha256: bool = False
) -> list[dict]:
    """One row per size: the baseline and each command, best of ``repeat``."""
    results = []
    for size in sizes:
        db = store_for(size, folder)
        row: dict[str, Any] = {
            "attempts": size,
            "baseline": min(baseline(db) for _ in range(repeat)),
        }
        for name in (*FORMATS, "runs"):
            out = folder / f"out-{size}.{name}"
            row[name] = min(timed(db, name, out) for _ in range(repeat))
            if profile == name:
                timed(db, name, out, profile=True)
            if sha256 and name != "runs":
                digest = hashlib.sha256(out.read_bytes()).hexdigest()
                print(f"{size} {name} sha256 {digest}", file=sys.stderr)
        results.append(row)
    return results


def table(results: list[dict]) -> str:
    """Seconds, seconds per 1,000 attempts and the ratio to the baseline, per size."""
    names = ("baseline", *FORMATS, "runs")
    lines = [
        "| attempts | " + " | ".join(names) + " |",
        "| --- | " + " | ".join("---" for _ in names) + " |",
    ]
    for row in results:
        per = row["attempts"] / 1000
        cells = []
        for name in names:
            ratio = "" if name == "baseline" else f", {row[name] / row['baseline']:.1f}x"
            cells.append(f"{row[name]:.2f} s ({row[name] / per * 1000:.1f} ms/1k{ratio})")
        lines.append(f"| {row['attempts']:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,30000,100000")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--db", help="a folder to keep (and reuse) the stores in")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--profile", choices=(*FORMATS, "runs"), help="cProfile one command")
    parser.add_argument("--sha256", action="store_true", help="print each output's SHA-256")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.db) if args.db else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        results = measure(sizes, folder, args.repeat, args.profile, args.sha256)
    print(json.dumps(results, indent=2) if args.json else table(results))


if __name__ == "__main__":
    main()
