"""How close adaptive concurrency comes to a limited server's allowance, and how many 429s it costs.

Starts the project's test server (its own process, 127.0.0.1) twice, each limited in one way:

- ``concurrency``: 4 requests answered at once (``--max-concurrent 4``, 429 beyond it with
  ``Retry-After: 0.01``), 20 ms each: an allowance of 200 calls/s;
- ``rate``: 200 requests a second (``--requests-per-second 200 --burst 10``, a token bucket;
  429 beyond it, ``Retry-After`` the wait for the next token), 20 ms each.

Against each, in the same run and in turns, ``--calls`` chats go through redline's call gate
(the engine's worker pattern: one worker per configured slot):

- ``baseline``: a client told the allowance (concurrency 4, fixed; or ``requests_per_minute``
  at the rate, concurrency 32): what a perfectly configured client gets on this machine;
- ``adaptive``: concurrency 32, adaptive (the default): it has to find the allowance;
- ``fixed``: concurrency 32, not adaptive: the 429 storm adaptive concurrency avoids.

Reported per client: calls/s (median of the rounds), the share of the ideal allowance (200/s)
and of the baseline's calls/s, and 429s per 100 calls (from the server's own counts).

Usage: python benchmarks/rate_limits.py [--calls 600] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import urllib.request
from typing import Any

from redline.engine.gate import CallGate
from redline.model import Message, Transcript
from redline.targets import build_target
from redline.targets._http import close_shared_session
from throughput import free_port, start_server

IDEAL = 200.0
"""Both servers allow 200 calls a second: 4 at once x 20 ms, or the bucket's rate."""

SERVERS = {
    "concurrency": ["--max-concurrent", "4", "--retry-after", "0.01"],
    "rate": ["--requests-per-second", "200", "--burst", "10"],
}
CLIENTS: dict[str, dict[str, dict[str, Any]]] = {
    "concurrency": {
        "baseline": {"concurrency": 4, "adaptive_concurrency": False},
        "adaptive": {"concurrency": 32},
        "fixed": {"concurrency": 32, "adaptive_concurrency": False},
    },
    "rate": {
        "baseline": {"concurrency": 32, "requests_per_minute": IDEAL * 60},
        "adaptive": {"concurrency": 32},
        "fixed": {"concurrency": 32, "adaptive_concurrency": False},
    },
}






def server_stats(url: str, reset: bool = False) -> dict[str, Any]:
    if reset:
        request = urllib.request.Request(f"{url}/__reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=5):
            return {}
    with urllib.request.urlopen(f"{url}/__stats", timeout=5) as response:
        stats: dict[str, Any] = json.load(response)
        return stats


async def hammer(base_url: str, calls: int, options: dict[str, Any]) -> dict[str, Any]:
    """``calls`` chats through one gate, one worker per configured slot."""
    target = build_target({"type": "openai", "base_url": base_url, "model": "m"})
    gate = CallGate(target, max_retries=1000, **options)
    failed = 0
    todo = iter(range(calls))
    hello = [Message("user", "hello there")]

    async def worker() -> None:
        nonlocal failed
        for _ in todo:
            try:
                await gate.chat(hello, None, Transcript())
            except Exception:
                failed += 1

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(options["concurrency"])))
    finally:
        await gate.aclose()
        await target.aclose()
        await close_shared_session()
    seconds = time.perf_counter() - started
    return {
        "calls_per_s": (calls - failed) / seconds,
        "failed": failed,
        "final_limit": gate.concurrency_now,
        "cuts": gate.concurrency.decreases,
        "latency_cuts": gate.concurrency.latency_decreases,
    }


def measure(server: str, calls: int, rounds: int) -> dict[str, Any]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(port, 20, mode="echo", extra=SERVERS[server])
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CLIENTS[server]}
    try:
        for _ in range(rounds):
            for name, options in CLIENTS[server].items():
                server_stats(url, reset=True)
                time.sleep(0.2)  # let the bucket refill between clients
                result = asyncio.run(hammer(f"{url}/v1", calls, options))
                result["429s"] = int(server_stats(url)["by_status"].get("429", 0))
                runs[name].append(result)
    finally:
        proc.terminate()
        proc.wait(10)
    baseline = statistics.median(r["calls_per_s"] for r in runs["baseline"])
    out = {}
    for name, results in runs.items():
        rate = statistics.median(r["calls_per_s"] for r in results)
        out[name] = {
            "calls_per_s": round(rate, 1),
            "of_ideal": round(rate / IDEAL, 3),
            "of_baseline": round(rate / baseline, 3),
            "429s_per_100_calls": round(
                100 * statistics.median(r["429s"] for r in results) / calls, 1
            ),
            "failed": sum(r["failed"] for r in results),
            "final_limits": [r["final_limit"] for r in results],
            "cuts": [r["cuts"] for r in results],
            "latency_cuts": [r["latency_cuts"] for r in results],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result = {
        "calls": args.calls,
        "rounds": args.rounds,
        "ideal_calls_per_s": IDEAL,
        **{server: measure(server, args.calls, args.rounds) for server in SERVERS},
    }
    print(json.dumps(result, indent=2))
    for server in SERVERS:
        for name, figures in result[server].items():
            print(
                f"{server:12s} {name:9s} {figures['calls_per_s']:7.1f} calls/s  "
                f"{100 * figures['of_ideal']:5.1f}% of 200/s  "
                f"{100 * figures['of_baseline']:5.1f}% of baseline  "
                f"{figures['429s_per_100_calls']:6.1f} 429s/100 calls",
                file=sys.stderr,
            )


if __name__ == "__main__":
    main()
