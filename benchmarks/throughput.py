"""Throughput and CPU per attempt: redline against two bare clients, in one run.

Starts the project's test server (``redline testserver --mode refuse``, its own process, so its
CPU is not counted) on 127.0.0.1 twice: answering at once, and after 200 ms. Then measures,
each in a fresh child process of its own, against the same server:

- ``stdlib``: a bare standard-library asyncio client (``asyncio.open_connection``, HTTP/1.1
  keep-alive, one connection per worker, JSON by hand): the baseline of the issue;
- ``aiohttp``: a bare aiohttp loop (one pooled session);
- ``redline``: the full pipeline of a ``redline scan`` (plan, attack, call, judge, store:
  ``prepare_run`` then ``execute_run`` on a fresh SQLite store, writer thread included).

Every client sends the same chat requests at the same concurrency and checks each reply. For
each it reports attempts/s (wall time), CPU milliseconds per attempt (the child's process CPU
time over the timed part, every thread included: redline's store writer and judge workers
count) and its peak memory (max RSS of the child). Rounds run the three back to back; each
figure is the median over rounds, and each ratio (redline / stdlib, redline / aiohttp) the
median of the per-round ratios, since the machine's speed drifts between rounds.

Then the 200 ms row: every client against the 200 ms server at concurrency 64, whose ideal is
64 / 0.2 s = 320 attempts/s; the share of that ideal reached (one round).

``--judge`` picks the campaign's judge (default ``refusal``, the cheap offline classifier;
``refusal_patterns`` costs almost nothing; ``harm`` is the scans' default). The judge's own CPU
is also measured alone, outside the run (the same replies judged in a loop), and shown beside
redline's figure: for a heavy or model-based judge it is that judge's cost, not the pipeline's.

The output is a markdown table like issue 15's (``--json PATH`` also writes every figure).

Usage: python benchmarks/throughput.py [--attempts 20000] [--concurrency 64] [--rounds 5]
           [--judge refusal] [--slow-attempts 4000] [--slow-latency-ms 200] [--json PATH]
           [--profile PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CLIENTS = ("stdlib", "aiohttp", "redline")
CHEAP_JUDGES = ("refusal", "refusal_patterns")
CPU_GOAL_MS = 0.15
"""Issue 15's goal for the whole pipeline with a cheap judge."""
GOAL = "Synthetic benchmark goal number {i} for the throughput test"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    port: int, latency_ms: float = 0.0, mode: str = "refuse", extra: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    """The test server in its own process (its CPU is not the client's), once it answers.

    ``extra`` are more ``redline testserver`` options (a rate limit, a concurrency limit).
    The other benchmarks start theirs through this too.
    """
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "redline", "testserver", "--port", str(port)),
            *("--mode", mode, "--latency-ms", str(latency_ms), *extra),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the test server did not start")


def goals(n: int) -> list[str]:
    """The behaviours' goals (distinct: no judge cache helps)."""
    return [GOAL.format(i=i) for i in range(n)]


def write_behaviors(path: Path, n: int) -> None:
    """A JSONL behaviours file of ``n`` synthetic goals in ten categories."""
    with path.open("w") as handle:
        for i, goal in enumerate(goals(n)):
            handle.write(json.dumps({"id": f"g{i}", "behavior": goal, "category": f"c{i % 10}"}))
            handle.write("\n")


# --- the clients (each runs in a child process: ``--client NAME``) ----------------------------


async def stdlib_client(host: str, port: int, texts: list[str], concurrency: int) -> None:
    """A bare asyncio client: raw HTTP/1.1 with keep-alive, one connection per worker."""
    queue = iter(texts)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for text in queue:
                body = json.dumps(
                    {"model": "bench", "messages": [{"role": "user", "content": text}]}
                ).encode()
                writer.write(
                    b"POST /v1/chat/completions HTTP/1.1\r\nHost: %s:%d\r\n"
                    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (host.encode(), port, len(body), body)
                )
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                data = json.loads(await reader.readexactly(length))
                if status != 200 or not data["choices"][0]["message"]["content"]:
                    raise SystemExit(f"bad reply: HTTP {status}")
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def aiohttp_client(url: str, texts: list[str], concurrency: int) -> None:
    """A bare aiohttp loop: one pooled session, the same requests at the same concurrency."""
    import aiohttp

    queue = iter(texts)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for text in queue:
                body = {"model": "bench", "messages": [{"role": "user", "content": text}]}
                async with session.post(url, json=body) as response:
                    data = await response.json()
                    if response.status != 200 or not data["choices"][0]["message"]["content"]:
                        raise SystemExit(f"bad reply: HTTP {response.status}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def campaign(base_url: str, behaviors: Path, concurrency: int, judge: str) -> dict[str, Any]:
    """The campaign redline runs: every behaviour, attacked directly, one judge."""
    return {
        "target": {"type": "openai", "base_url": base_url, "model": "bench"},
        "behaviors": [{"file": str(behaviors)}],
        "attacks": ["direct"],
        "judges": [judge],
        "limits": {"concurrency": concurrency, "timeout_s": 30},
    }


def redline_client(args: argparse.Namespace) -> dict[str, Any]:
    """The full pipeline on a fresh store, timed from planning to the last row written."""
    from redline.config import parse_campaign
    from redline.engine.campaign import execute_run, prepare_run
    from redline.store import Store

    store = Store(args.db)
    spec = campaign(args.base_url, Path(args.behaviors), args.concurrency, args.judge)

    def run() -> None:
        prepared = prepare_run(store, parse_campaign(spec))
        stats = asyncio.run(execute_run(store, prepared, handle_sigint=False))
        if stats.finished != args.attempts or stats.outcomes["error"]:
            raise SystemExit(f"redline run incomplete: {stats}")

    figures = timed(run, args.profile)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.engine.dispose()
    files = Path(args.db).parent.glob(Path(args.db).name + "*")
    size = sum(p.stat().st_size for p in files if p.is_file())
    return figures | {"store_bytes_per_attempt": round(size / args.attempts)}


def judge_alone(args: argparse.Namespace) -> dict[str, Any]:
    """The judge's own CPU: the run's replies judged one after another, outside any run."""
    from redline import registry
    from redline.model import Behavior, Message, Transcript
    from redline.testserver import ServerConfig, compose_reply

    judge = registry.build("judge", args.judge).obj
    config = ServerConfig(mode="refuse")
    work = []
    for i, goal in enumerate(goals(args.attempts)):
        reply = compose_reply(config, [], goal)
        messages = [Message("user", goal), Message("assistant", reply)]
        work.append((Behavior(f"g{i}", goal, f"c{i % 10}"), Transcript(messages=messages)))

    async def judge_all() -> None:
        for behavior, transcript in work:
            await judge.judge(behavior, transcript)

    return timed(lambda: asyncio.run(judge_all()), None)


def timed(run: Any, profile: str | None) -> dict[str, float]:
    """Wall and process CPU seconds (every thread) of ``run()``; cProfile'd into ``profile``."""
    import cProfile

    profiler = cProfile.Profile() if profile else None
    cpu, main, wall = time.process_time(), time.thread_time(), time.perf_counter()
    if profiler is None:
        run()
    else:
        profiler.runcall(run)
    figures = {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "main_cpu_s": time.thread_time() - main,
    }
    if profiler is not None:
        profiler.dump_stats(profile)
    return figures


def client_main(args: argparse.Namespace) -> None:
    """Run one client (in this child process) and print its figures as JSON."""
    texts = goals(args.attempts)
    if args.client == "stdlib":
        figures = timed(
            lambda: asyncio.run(stdlib_client("127.0.0.1", args.port, texts, args.concurrency)),
            None,
        )
    elif args.client == "aiohttp":
        import aiohttp  # noqa: F401 (imported before the clock starts, as redline's modules are)

        url = f"http://127.0.0.1:{args.port}/v1/chat/completions"
        figures = timed(lambda: asyncio.run(aiohttp_client(url, texts, args.concurrency)), None)
    elif args.client == "judge":
        figures = judge_alone(args)
    else:
        figures = redline_client(args)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wall, cpu, main = figures.pop("wall_s"), figures.pop("cpu_s"), figures.pop("main_cpu_s")
    result = {
        "per_s": args.attempts / wall,
        "cpu_ms": 1000 * cpu / args.attempts,
        "main_thread_cpu_ms": 1000 * main / args.attempts,
        "rss_mb": peak_kib / 1024,
        **figures,
    }
    print(json.dumps(result))


# --- the driver ----------------------------------------------------------------------------------


def measure(
    client: str,
    port: int,
    attempts: int,
    concurrency: int,
    workdir: Path,
    judge: str,
    profile: str | None = None,
) -> dict[str, Any]:
    """One client's figures, from a fresh child process."""
    behaviors = workdir / f"behaviors-{attempts}.jsonl"
    if not behaviors.exists():
        write_behaviors(behaviors, attempts)
    db = workdir / f"run-{time.monotonic_ns()}.db"
    command = [
        *(sys.executable, __file__, "--client", client, "--port", str(port)),
        *("--attempts", str(attempts), "--concurrency", str(concurrency), "--judge", judge),
        *("--behaviors", str(behaviors), "--db", str(db)),
        *(("--profile", profile) if profile else ()),
    ]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    for leftover in workdir.glob(db.name + "*"):
        if leftover.is_dir():
            shutil.rmtree(leftover)
        else:
            leftover.unlink()
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def median(rows: list[dict[str, Any]], key: str) -> float:
    """The median of ``key`` over rounds."""
    return statistics.median(row[key] for row in rows)


def table(result: dict[str, Any]) -> str:
    """The markdown table of issue 15, with both ratios and the distance to the goals."""
    fast, slow, judge = result["rounds_by_client"], result["slow"], result["judge"]
    ideal = result["slow_ideal_per_s"]
    names = {
        "stdlib": "bare stdlib asyncio client",
        "aiohttp": "bare aiohttp loop",
        "redline": f"redline (full pipeline, judge `{judge}`)",
    }
    lines = [
        "| tool | 0 ms target: attempts/s | CPU ms per attempt | "
        f"{result['slow_latency_ms']:g} ms target, concurrency {result['concurrency']}: share of "
        f"the {ideal:,.0f}/s ideal | peak memory |",
        "| --- | --- | --- | --- | --- |",
    ]
    for client in CLIENTS:
        rows = fast[client]
        per_s = [row["per_s"] for row in rows]
        lines.append(
            f"| {names[client]} | {median(rows, 'per_s'):,.0f} ({min(per_s):,.0f}-"
            f"{max(per_s):,.0f}) | {median(rows, 'cpu_ms'):.3f} | "
            f"{slow[client]['per_s'] / ideal:.0%} (N={result['slow_attempts']:,}) | "
            f"{median(rows, 'rss_mb'):.0f} MB |"
        )
    alone = result["judge_alone"]
    ratios = result["ratios"]
    cpu = median(fast["redline"], "cpu_ms")
    cheap = judge in CHEAP_JUDGES
    # The goal is for a cheap judge; a heavier judge's own cost is shown apart from it.
    measured = cpu if cheap else cpu - alone["cpu_ms"]
    verdict = "met" if measured <= CPU_GOAL_MS else f"{measured - CPU_GOAL_MS:.3f} ms over"
    rounds = result["rounds"]
    lines += [
        "",
        f"- judge `{judge}` alone, outside the run: {alone['cpu_ms']:.3f} CPU ms per reply "
        f"(included in redline's figure above); redline without it: {cpu - alone['cpu_ms']:.3f}",
        f"- redline / bare stdlib: **{ratios['redline_over_stdlib']:.2f}** (rounds "
        f"{', '.join(f'{r:.2f}' for r in ratios['redline_over_stdlib_rounds'])}); goal at least "
        "0.5",
        f"- redline / bare aiohttp: **{ratios['redline_over_aiohttp']:.2f}** (rounds "
        f"{', '.join(f'{r:.2f}' for r in ratios['redline_over_aiohttp_rounds'])})",
        f"- redline CPU per attempt{'' if cheap else ' without the judge'}: "
        f"**{measured:.3f} ms**; goal at most {CPU_GOAL_MS} ms with a cheap judge ({verdict})",
        f"- store: {statistics.median(r['store_bytes_per_attempt'] for r in fast['redline']):,.0f}"
        " bytes per attempt",
        f"- {result['attempts']:,} attempts per client and round, concurrency "
        f"{result['concurrency']}, {rounds} round{'s' if rounds != 1 else ''} (median; range in "
        f"brackets); {result['machine']}, load average {result['load']} at the start",
    ]
    return "\n".join(lines)


def ratio_rounds(rows: dict[str, list[dict[str, Any]]], over: str) -> list[float]:
    """Per round: redline's attempts/s over ``over``'s."""
    return [r["per_s"] / b["per_s"] for r, b in zip(rows["redline"], rows[over], strict=True)]


def main() -> None:
    """Parse options, then drive the clients (or, with ``--client``, be one)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--attempts", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--judge", default="refusal")
    parser.add_argument("--slow-attempts", type=int, default=4_000)
    parser.add_argument("--slow-latency-ms", type=float, default=200.0)
    parser.add_argument("--json", metavar="PATH", help="Also write every figure here.")
    parser.add_argument(
        "--profile", metavar="PATH", help="cProfile the redline client of round 1 into PATH."
    )
    parser.add_argument("--client", choices=[*CLIENTS, "judge"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--behaviors", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        args.base_url = f"http://127.0.0.1:{args.port}/v1"
        client_main(args)
        return

    load = os.getloadavg()  # other work on the machine inflates every figure
    fast_port, slow_port = free_port(), free_port()
    servers = [start_server(fast_port), start_server(slow_port, args.slow_latency_ms)]
    rounds: dict[str, list[dict[str, Any]]] = {client: [] for client in CLIENTS}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            for number in range(args.rounds):
                for client in CLIENTS:
                    profile = args.profile if client == "redline" and number == 0 else None
                    rounds[client].append(
                        measure(
                            client, fast_port, args.attempts, args.concurrency, workdir,
                            args.judge, profile,
                        )
                    )  # fmt: skip
                print(
                    f"round {number + 1}: "
                    + ", ".join(
                        f"{c} {rounds[c][-1]['per_s']:,.0f}/s {rounds[c][-1]['cpu_ms']:.3f} ms"
                        for c in CLIENTS
                    ),
                    file=sys.stderr,
                )
            alone = measure("judge", fast_port, args.attempts, 1, workdir, args.judge)
            slow = {
                client: measure(
                    client, slow_port, args.slow_attempts, args.concurrency, workdir, args.judge
                )
                for client in CLIENTS
            }
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)
    result = {
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "attempts": args.attempts,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "judge": args.judge,
        "load": " ".join(f"{x:.1f}" for x in load),
        "rounds_by_client": rounds,
        "judge_alone": alone,
        "slow": slow,
        "slow_attempts": args.slow_attempts,
        "slow_latency_ms": args.slow_latency_ms,
        "slow_ideal_per_s": args.concurrency / (args.slow_latency_ms / 1000),
        "ratios": {
            "redline_over_stdlib": statistics.median(ratio_rounds(rounds, "stdlib")),
            "redline_over_stdlib_rounds": ratio_rounds(rounds, "stdlib"),
            "redline_over_aiohttp": statistics.median(ratio_rounds(rounds, "aiohttp")),
            "redline_over_aiohttp_rounds": ratio_rounds(rounds, "aiohttp"),
        },
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    print(table(result))


if __name__ == "__main__":
    main()
