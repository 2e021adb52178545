"""Throughput of redline against a bare async HTTP loop, measured in the same run.

Starts the project's test server (zero latency, its own process) on 127.0.0.1, then measures:

(a) a bare aiohttp loop sending the same chat requests at the same concurrency;
(b) redline doing the full work (plan, attack, call, judge, store) through the engine;
(c) ``redline scan`` as a subprocess on a 20,000-attempt plan: peak memory (max RSS) and the
    store's bytes per attempt.

Each round measures (a) then (b) back to back; the ratio reported is the median of the
per-round ratios, since the machine's speed drifts between rounds.

``--judge`` picks the judge of the campaign (default ``refusal``, the cheap offline classifier;
``harm`` is the default judge of scans; ``refusal_patterns`` shows the framework's own overhead
with a judge that costs almost nothing).

Usage: python benchmarks/throughput.py [--attempts 20000] [--concurrency 64] [--rounds 5]
                                       [--judge refusal]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

from redline.config import parse_campaign
from redline.engine.campaign import execute_run, prepare_run
from redline.store import Store


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "redline", "testserver", "--port", str(port), "--mode", "refuse"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("test server did not start")


def write_behaviors(path: Path, n: int) -> list[str]:
    goals = [f"Synthetic benchmark goal number {i} for the throughput test" for i in range(n)]
    with path.open("w") as handle:
        for i, goal in enumerate(goals):
            handle.write(json.dumps({"id": f"g{i}", "behavior": goal, "category": f"c{i % 10}"}))
            handle.write("\n")
    return goals


async def bare_loop(url: str, goals: list[str], concurrency: int) -> float:
    """Attempts per second of a plain aiohttp loop: same requests, same concurrency."""
    queue = iter(goals)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for goal in queue:
                body = {"model": "bench", "messages": [{"role": "user", "content": goal}]}
                async with session.post(url, json=body) as response:
                    data = await response.json()
                    assert data["choices"][0]["message"]["content"]

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(goals) / (time.perf_counter() - started)


def campaign(base_url: str, behaviors: Path, concurrency: int, judge: str) -> dict:
    return {
        "target": {"type": "openai", "base_url": base_url, "model": "bench"},
        "behaviors": [{"file": str(behaviors)}],
        "attacks": ["direct"],
        "judges": [judge],
        "limits": {"concurrency": concurrency, "timeout_s": 30},
    }


def redline_run(base_url: str, behaviors: Path, concurrency: int, db: Path, judge: str) -> float:
    """Attempts per second of the full redline pipeline, store writes included."""
    store = Store(db)
    started = time.perf_counter()
    prepared = prepare_run(store, parse_campaign(campaign(base_url, behaviors, concurrency, judge)))
    stats = asyncio.run(execute_run(store, prepared, handle_sigint=False))
    elapsed = time.perf_counter() - started
    assert stats.finished == len(prepared.plan), stats
    return stats.finished / elapsed


def memory_run(base_url: str, behaviors: Path, concurrency: int, workdir: Path, judge: str) -> dict:
    """Peak RSS of `redline scan` on the whole plan, and the store's size per attempt."""
    import yaml

    config = workdir / "campaign.yaml"
    config.write_text(yaml.safe_dump(campaign(base_url, behaviors, concurrency, judge)))
    db = workdir / "memory.db"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(
        [sys.executable, "-m", "redline", "scan", str(config), "--db", str(db), "--no-progress"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    store = Store(db)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        attempts = conn.exec_driver_sql("select count(*) from attempts").scalar()
    store.close()
    size = sum(p.stat().st_size for p in workdir.glob("memory.db*"))
    if peak_kib <= before:
        raise SystemExit("could not read the scan's peak memory")
    return {
        "peak_rss_mb": round(peak_kib / 1024, 1),
        "store_bytes_per_attempt": round(size / attempts),
        "attempts": attempts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--judge", default="refusal")
    args = parser.parse_args()

    port = free_port()
    server = start_server(port)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            behaviors = workdir / "behaviors.jsonl"
            goals = write_behaviors(behaviors, args.attempts)
            bare, full = [], []
            for round_number in range(args.rounds):
                bare.append(
                    asyncio.run(bare_loop(f"{base_url}/chat/completions", goals, args.concurrency))
                )
                db = workdir / f"round{round_number}.db"
                full.append(redline_run(base_url, behaviors, args.concurrency, db, args.judge))
                print(
                    f"round {round_number + 1}: bare loop {bare[-1]:,.0f}/s, "
                    f"redline {full[-1]:,.0f}/s",
                    file=sys.stderr,
                )
            memory = memory_run(base_url, behaviors, args.concurrency, workdir, args.judge)
    finally:
        server.terminate()
        server.wait(10)
    ratios = [f / b for f, b in zip(full, bare, strict=True)]
    result = {
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "attempts": args.attempts,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "judge": args.judge,
        "bare_loop_per_s_median": round(statistics.median(bare)),
        "redline_per_s_median": round(statistics.median(full)),
        "ratio_median": round(statistics.median(ratios), 2),
        "ratio_per_round": [round(r, 2) for r in ratios],
        **memory,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
