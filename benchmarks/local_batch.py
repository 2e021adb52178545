"""Batched decoding of the embedded model against its one-at-a-time path, in the same run.

Measures, on the embedded SmolLM2-135M with ``--threads`` CPU threads set explicitly:

(a) the quick scan (the campaign behind a bare ``redline scan``, ``redline.quick``) run through
    the engine on a temporary store, once with the local target at ``parallel: 1`` (llama-cpp-
    python's ``create_chat_completion``, one call at a time) and once at ``parallel: N``: wall
    time, and the agreement of the two runs attempt by attempt (reply text and verdict);
(b) generation throughput on the quick scan's own prompts (the first ``--prompts`` first turns
    of run (a)), all sent at once: completion tokens per second and CPU ms per token for the
    one-at-a-time path and the batched path at each ``--parallel`` value.

The two orders alternate between rounds and each ratio is the median of the per-round ratios
(other processes share the cores; the load average is printed beside each round).

Usage: python benchmarks/local_batch.py [--threads 2] [--rounds 3] [--parallel 2,4,8]
                                        [--scan-parallel 4] [--scan-concurrency 4]
                                        [--prompts 24] [--no-scan] [--max-calls N]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from redline.engine.campaign import execute_run, prepare_run
from redline.model import Message, Reply
from redline.quick import QUICK_MAX_TOKENS, quick_campaign
from redline.store import Store
from redline.targets.llama_batch import EngineStats
from redline.targets.local import LocalOptions, LocalTarget, default_model_path, load_model

Replies = dict[str, tuple[str, str]]
"""attempt id -> (the target's replies joined, the first judge's outcome)."""


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def scan(
    db: Path, parallel: int, threads: int, concurrency: int, max_calls: int | None = None
) -> tuple[float, Replies]:
    """One quick scan; its wall time and what each attempt got."""
    campaign = quick_campaign({"type": "local", "parallel": parallel, "n_threads": threads})
    campaign = campaign.model_copy(
        update={"limits": campaign.limits.model_copy(update={"concurrency": concurrency})}
    )
    store = Store(db)
    try:
        started = time.perf_counter()
        prepared = prepare_run(store, campaign, max_target_calls=max_calls)
        stats = asyncio.run(execute_run(store, prepared, handle_sigint=False))
        wall = time.perf_counter() - started
        if stats.stop_reason not in ("completed", "budget_exhausted" if max_calls else ""):
            sys.exit(f"the quick scan at parallel {parallel} stopped: {stats.stop_reason}")
        outcomes = {row.id: row.outcome for row in store.outcomes(prepared.run_id)}
        replies = {
            attempt.id: (
                "\x1e".join(
                    m["content"] for m in attempt.transcript["messages"] if m["role"] == "assistant"
                ),
                outcomes[attempt.id],
            )
            for attempt in store.iter_attempts(prepared.run_id)
        }
    finally:
        store.close()
    return wall, replies


def engine_stats(parallel: int, threads: int) -> EngineStats:
    """A copy of the counters of the engine the local target at ``parallel`` uses."""
    model = load_model(default_model_path(), LocalOptions.model_fields["n_ctx"].default, threads, 0)
    return dataclasses.replace(model.batch_engine(parallel).stats)


def occupancy(before: EngineStats, after: EngineStats) -> str:
    """Mean slots in use per decode step, and the share of engine time spent on prompts."""
    steps = after.decode_steps - before.decode_steps
    tokens = after.decoded_tokens - before.decoded_tokens
    decode = after.decode_s - before.decode_s
    prefill = after.prefill_s - before.prefill_s
    return (
        f"{tokens / max(steps, 1):.2f} slots in use per decode step, "
        f"{1000 * decode / max(steps, 1):.1f} ms per decode step, "
        f"prompts {100 * prefill / max(decode + prefill, 1e-9):.0f}% of decode time"
    )


def first_prompts(db: Path, count: int) -> list[str]:
    """The first turns of the stored quick scan in ``db`` or, without one, its behaviours as
    the ``direct`` attack sends them."""
    store = Store(db)
    try:
        runs = store.list_runs()
        if not runs:
            plan = prepare_run(store, quick_campaign({"type": "local"})).plan
            return [planned.behavior.goal for planned in plan][:count]
        return [
            next(m["content"] for m in a.transcript["messages"] if m["role"] == "user")
            for a in store.iter_attempts(runs[-1]["id"])
        ][:count]
    finally:
        store.close()


def throughput(target: Any, prompts: list[str]) -> tuple[float, float, int]:
    """All ``prompts`` at once: (completion tokens/s, CPU ms per token, tokens)."""
    params = {"temperature": 0, "max_tokens": QUICK_MAX_TOKENS}

    async def run() -> list[Reply]:
        return await asyncio.gather(*(target.chat([Message("user", p)], params) for p in prompts))

    cpu, wall = time.process_time(), time.perf_counter()
    replies = asyncio.run(run())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    tokens = sum(r.usage.completion_tokens for r in replies)
    return tokens / wall, 1000 * cpu / tokens, tokens


def agreement(serial: Replies, batched: Replies) -> str:
    ids = serial.keys() & batched.keys()
    replies = sum(serial[i][0] == batched[i][0] for i in ids)
    verdicts = sum(serial[i][1] == batched[i][1] for i in ids)
    return f"replies {replies}/{len(ids)} equal, verdicts {verdicts}/{len(ids)} equal"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parallel", default="2,4,8")
    parser.add_argument("--scan-parallel", type=int, default=4)
    parser.add_argument("--scan-concurrency", type=int, default=4)
    parser.add_argument("--prompts", type=int, default=24)
    parser.add_argument("--no-scan", action="store_true", help="only the throughput part")
    parser.add_argument(
        "--max-calls", type=int, help="stop each quick scan after this many calls (a smoke test)"
    )
    args = parser.parse_args()
    sizes = [int(n) for n in args.parallel.split(",")]
    print(f"{os.cpu_count()} cores, n_threads {args.threads}; {load()}")

    tmp = Path(tempfile.mkdtemp(prefix="redline-local-batch-"))
    scan_ratios: list[float] = []
    prompts_db = tmp / "prompts.db"
    if not args.no_scan:  # load the model and the judge, and start both paths, before timing
        for parallel in (1, args.scan_parallel):
            scan(tmp / f"warm-{parallel}.db", parallel, args.threads, args.scan_concurrency, 4)
    for r in range(args.rounds if not args.no_scan else 0):
        walls: dict[int, float] = {}
        runs: dict[int, Replies] = {}
        order = [1, args.scan_parallel] if r % 2 == 0 else [args.scan_parallel, 1]
        for parallel in order:
            db = prompts_db if (r, parallel) == (0, 1) else tmp / f"scan-{r}-{parallel}.db"
            before = engine_stats(args.scan_parallel, args.threads)
            walls[parallel], runs[parallel] = scan(
                db, parallel, args.threads, args.scan_concurrency, args.max_calls
            )
            if parallel > 1:
                busy = occupancy(before, engine_stats(parallel, args.threads))
        ratio = walls[1] / walls[args.scan_parallel]
        scan_ratios.append(ratio)
        print(
            f"quick scan round {r + 1}: parallel 1 {walls[1]:.1f} s, parallel "
            f"{args.scan_parallel} {walls[args.scan_parallel]:.1f} s: {ratio:.2f}x; "
            f"{agreement(runs[1], runs[args.scan_parallel])}; {busy}; {load()}"
        )
    if scan_ratios:
        print(f"quick scan speed-up, median of rounds: {statistics.median(scan_ratios):.2f}x")

    prompts = first_prompts(prompts_db, args.prompts)
    targets = {
        n: LocalTarget(LocalOptions(type="local", parallel=n, n_threads=args.threads))
        for n in [1, *sizes]
    }
    throughput(targets[1], prompts[:2])  # load the model and warm both paths
    throughput(targets[sizes[0]], prompts[:2])
    ratios: dict[int, list[float]] = {n: [] for n in sizes}
    for r in range(args.rounds):
        order = [1, *sizes] if r % 2 == 0 else [*reversed(sizes), 1]
        measured = {}
        for n in order:
            before = engine_stats(n, args.threads) if n > 1 else None
            measured[n] = throughput(targets[n], prompts)
            if before is not None:
                print(f"  parallel {n}: {occupancy(before, engine_stats(n, args.threads))}")
        base = measured[1][0]
        line = ", ".join(
            f"{'1 (one at a time)' if n == 1 else n}: {tps:.1f} tok/s {cpu:.1f} CPU ms/tok"
            for n, (tps, cpu, _) in sorted(measured.items())
        )
        print(f"throughput round {r + 1} ({len(prompts)} prompts): {line}; {load()}")
        for n in sizes:
            ratios[n].append(measured[n][0] / base)
    for n in sizes:
        print(f"parallel {n}: {statistics.median(ratios[n]):.2f}x the one-at-a-time tokens/s")


if __name__ == "__main__":
    main()
