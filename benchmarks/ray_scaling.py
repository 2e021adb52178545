"""Scaling of the Ray executor against the local one, measured in the same run.

Starts the project's test server (its own process) on 127.0.0.1 with a fixed latency per
reply, starts a Ray instance on this machine, and runs the same plan with:

- ``local``: the local executor at ``--concurrency`` (the baseline);
- ``local x2``: the local executor at twice that (what two actors' slots amount to);
- ``ray 1``: one Ray actor running ``--concurrency`` attempts at once;
- ``ray 2``: two actors, each running ``--concurrency``.

For each it reports attempts/s over the whole run (actor start included, Ray's own start
excluded), the seconds to the first result (mostly actor start), the steady rate (between the
first and the last result), that rate over the ideal ``slots / latency`` and over the
baseline, the driver's CPU ms per attempt (this process: event loop, Ray's client threads, the
store's writer) and the actors' CPU ms per attempt. Each round runs every variant once; the
medians are shown.

Usage: python benchmarks/ray_scaling.py [--attempts 600] [--latency-ms 100] [--concurrency 8]
                                        [--batch 4] [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from redline.config import parse_campaign
from redline.engine.campaign import execute_run, prepare_run
from redline.store import Store

VARIANTS = ("local", "local x2", "ray 1", "ray 2")


def start_server(port: int, latency_ms: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "redline", "testserver", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--mode", "refuse", "--latency-ms", str(latency_ms)],
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


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def campaign(
    base_url: str, behaviors: Path, variant: str, concurrency: int, batch: int
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "target": {"type": "openai", "base_url": base_url, "model": "bench"},
        "behaviors": [{"file": str(behaviors)}],
        "attacks": ["direct"],
        "judges": ["refusal"],
        "limits": {"concurrency": concurrency * (2 if variant == "local x2" else 1)},
    }
    if variant.startswith("ray"):
        data["executor"] = {"type": "ray", "actors": int(variant.split()[1]), "batch": batch}
    return data


def measure(
    base_url: str, behaviors: Path, variant: str, args: argparse.Namespace, db: Path
) -> dict:
    store = Store(db)
    data = campaign(base_url, behaviors, variant, args.concurrency, args.batch)
    prepared = prepare_run(store, parse_campaign(data))
    ends: list[float] = []
    cpu, started = time.process_time(), time.perf_counter()
    stats = asyncio.run(
        execute_run(
            store, prepared, on_result=lambda _: ends.append(time.perf_counter()),
            handle_sigint=False,
        )
    )  # fmt: skip
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    store.close()
    n = len(prepared.plan)
    assert stats.finished == n, (variant, stats)
    return {
        "attempts_per_s": n / wall,
        "steady_per_s": (n - 1) / (ends[-1] - ends[0]),
        "first_result_s": ends[0] - started,
        "driver_cpu_ms": 1000 * cpu / n,
        "actor_cpu_ms": 1000 * getattr(stats, "actor_cpu_s", 0.0) / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=600)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4, help="executor.batch of the Ray runs")
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()

    import ray

    port = free_port()
    server = start_server(port, args.latency_ms)
    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    results: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            behaviors = Path(tmp) / "behaviors.jsonl"
            behaviors.write_text(
                "".join(
                    json.dumps({"id": f"g{i}", "behavior": f"Benchmark goal {i}", "category": "c"})
                    + "\n"
                    for i in range(args.attempts)
                )
            )
            for round_ in range(args.rounds):
                for variant in VARIANTS:
                    db = Path(tmp) / f"{round_}-{variant.replace(' ', '')}.db"
                    base_url = f"http://127.0.0.1:{port}/v1"
                    results[variant].append(measure(base_url, behaviors, variant, args, db))
    finally:
        ray.shutdown()
        server.kill()

    latency = args.latency_ms / 1000
    base_steady = statistics.median(r["steady_per_s"] for r in results["local"])
    rows = []
    for variant in VARIANTS:
        slots = args.concurrency * (1 if variant in ("local", "ray 1") else 2)
        rate = statistics.median(r["attempts_per_s"] for r in results[variant])
        steady = statistics.median(r["steady_per_s"] for r in results[variant])
        rows.append(
            {
                "variant": variant,
                "slots": slots,
                "attempts_per_s": round(rate, 1),
                "steady_per_s": round(steady, 1),
                "first_result_s": round(
                    statistics.median(r["first_result_s"] for r in results[variant]), 2
                ),
                "of_ideal": round(steady / (slots / latency), 2) if latency else None,
                "vs_local": round(steady / base_steady, 2),
                "driver_cpu_ms_per_attempt": round(
                    statistics.median(r["driver_cpu_ms"] for r in results[variant]), 3
                ),
                "actor_cpu_ms_per_attempt": round(
                    statistics.median(r["actor_cpu_ms"] for r in results[variant]), 3
                ),
            }
        )
    print(
        f"{args.attempts} attempts, target latency {args.latency_ms} ms, concurrency "
        f"{args.concurrency} per actor, batch {args.batch}, {args.rounds} rounds (medians); "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, Ray {ray.__version__}"
    )
    print("| variant | slots | attempts/s (whole run) | first result s | attempts/s (steady) "
          "| of ideal | vs local | driver CPU ms/attempt | actors' CPU ms/attempt |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {row['variant']} | {row['slots']} | {row['attempts_per_s']} | "
            f"{row['first_result_s']} | {row['steady_per_s']} | "
            f"{row['of_ideal'] if row['of_ideal'] is not None else '-'} | {row['vs_local']} | "
            f"{row['driver_cpu_ms_per_attempt']} | {row['actor_cpu_ms_per_attempt'] or '-'} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": None}, "rows": rows}))


if __name__ == "__main__":
    main()
