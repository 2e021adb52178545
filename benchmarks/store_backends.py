"""Throughput of redline writing to PostgreSQL against writing to SQLite, measured in the same run.

Two measurements, on both backends in each round, in turn first (the ratio reported is the
median of the per-round ratios, since the machine's speed drifts between rounds; one small
run on each first, not measured, warms up imports and connections):

(a) the full pipeline, as in ``throughput.py``: the engine runs a plan against the project's
    test server (zero latency, its own process) and stores every attempt;
(b) the store alone: the run's :class:`~redline.store.Writer` writing prebuilt attempts (a
    transcript, one call, one verdict each) as fast as it takes them.

SQLite is a file in a temporary folder (WAL, ``synchronous=NORMAL``). PostgreSQL is the
database at ``--pg URL``, or a throwaway local server started from Debian's binaries with
``fsync`` on and ``synchronous_commit=off`` (the same promise as SQLite's setting: a commit may
be lost on power loss, the database is never corrupted). A local server over TCP measures the
protocol's cost, not a network's: a database across a network adds its round trips.

Usage: python benchmarks/store_backends.py [--attempts 5000] [--writes 20000] [--rounds 3]
                                           [--concurrency 64] [--pg postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from redline.config import parse_campaign
from redline.engine.campaign import execute_run, prepare_run
from redline.model import (
    AttemptResult,
    Behavior,
    CallRecord,
    Message,
    Outcome,
    PlannedAttempt,
    Transcript,
    Verdict,
)
from redline.store import Store
from throughput import campaign, free_port, start_server, write_behaviors

ROOT = Path(__file__).parents[1]


def pipeline(store: Store, base_url: str, behaviors: Path, concurrency: int) -> float:
    """Attempts per second of the full pipeline into ``store``."""
    started = time.perf_counter()
    config = campaign(base_url, behaviors, concurrency, "refusal_patterns")
    prepared = prepare_run(store, parse_campaign(config))
    stats = asyncio.run(execute_run(store, prepared, handle_sigint=False))
    elapsed = time.perf_counter() - started
    assert stats.finished == len(prepared.plan), stats
    return stats.finished / elapsed


def results(n: int) -> list[AttemptResult]:
    """``n`` finished attempts as the engine hands them to the writer."""
    reply = "I can't help with that. " * 20
    out = []
    for i in range(n):
        behavior = Behavior(f"b{i}", f"Synthetic benchmark goal number {i}", f"c{i % 10}")
        planned = PlannedAttempt(f"{i:016x}", i, behavior, "direct", 0, i)
        transcript = Transcript(
            [Message("user", behavior.goal), Message("assistant", reply)],
            calls=[CallRecord("target", 0.0, 0.01, True, status=200)],
        )
        verdict = Verdict("refusal_patterns", Outcome("safe"), refused=True, rationale="refused")
        out.append(AttemptResult(planned, transcript, [verdict], 0.0, 0.01))
    return out


def writes(store: Store, attempts: list[AttemptResult]) -> float:
    """Attempts per second the store's writer takes, until the last is stored."""
    run_id = f"writes-{uuid.uuid4().hex[:8]}"
    store.create_run(
        {
            "id": run_id, "name": "bench", "status": "running", "config_json": "{}",
            "target_json": "{}", "judges_json": "[]", "seed": 0, "plan_size": len(attempts),
            "redline_version": "bench",
        }
    )  # fmt: skip
    started = time.perf_counter()
    writer = store.writer(run_id, judge_specs={})
    for result in attempts:
        writer.put(result)
    writer.close()
    elapsed = time.perf_counter() - started
    assert len(store.done_attempt_ids(run_id)) == len(attempts)
    return len(attempts) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=5_000)
    parser.add_argument("--writes", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--pg", help="a PostgreSQL URL (default: a throwaway local server)")
    args = parser.parse_args()

    server = None
    pg_url = args.pg
    if pg_url is None:
        sys.path.insert(0, str(ROOT))
        from tests.pgserver import PostgresServer, binaries

        bin_dir = binaries()
        if bin_dir is None:
            raise SystemExit("no PostgreSQL binaries: apt-get install postgresql, or give --pg")
        server = PostgresServer(bin_dir)
        server.start(durable=True)
        pg_url = server.new_database()
    port = free_port()
    testserver = start_server(port)
    base_url = f"http://127.0.0.1:{port}/v1"
    prebuilt = results(args.writes)
    full: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
    written: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            behaviors = workdir / "behaviors.jsonl"
            write_behaviors(behaviors, args.attempts)
            warmup = workdir / "warmup.jsonl"
            write_behaviors(warmup, 200)
            stores = {"sqlite": Store(workdir / "bench.db"), "postgresql": Store(pg_url)}
            for store in stores.values():  # imports, the judge, connections: not measured
                pipeline(store, base_url, warmup, args.concurrency)
            for number in range(args.rounds):
                order = list(stores.items())
                for name, store in order if number % 2 == 0 else order[::-1]:
                    full[name].append(pipeline(store, base_url, behaviors, args.concurrency))
                    written[name].append(writes(store, prebuilt))
                print(
                    f"round {number + 1}: pipeline sqlite {full['sqlite'][-1]:,.0f}/s, "
                    f"postgresql {full['postgresql'][-1]:,.0f}/s; writer sqlite "
                    f"{written['sqlite'][-1]:,.0f}/s, "
                    f"postgresql {written['postgresql'][-1]:,.0f}/s",
                    file=sys.stderr,
                )
            for store in stores.values():
                store.close()
    finally:
        testserver.terminate()
        testserver.wait(10)
        if server is not None:
            server.stop()

    def ratios(measured: dict[str, list[float]]) -> list[float]:
        return [p / s for p, s in zip(measured["postgresql"], measured["sqlite"], strict=True)]

    report = {
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "postgresql": "given (--pg)" if args.pg else "throwaway local server, fsync on",
        "rounds": args.rounds,
        "pipeline": {
            "attempts": args.attempts,
            "concurrency": args.concurrency,
            "sqlite_per_s_median": round(statistics.median(full["sqlite"])),
            "postgresql_per_s_median": round(statistics.median(full["postgresql"])),
            "ratio_median": round(statistics.median(ratios(full)), 2),
            "ratio_per_round": [round(r, 2) for r in ratios(full)],
        },
        "writer": {
            "attempts": args.writes,
            "sqlite_per_s_median": round(statistics.median(written["sqlite"])),
            "postgresql_per_s_median": round(statistics.median(written["postgresql"])),
            "ratio_median": round(statistics.median(ratios(written)), 2),
            "ratio_per_round": [round(r, 2) for r in ratios(written)],
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
