"""Adaptive concurrency against the test server's enforced limits, over real HTTP.

Two kinds of limited server: one that allows 4 requests at once (429 beyond), one that allows
200 requests a second (a token bucket; 429 with the wait for the next token). In both, a gate
configured for 32 calls at once must finish every call, without a storm of 429s, at close to
the server's allowance. Throughput is compared with a client measured in the same test, with
a floor loose enough for a 2-core machine that other work loads heavily;
``benchmarks/rate_limits.py`` measures the same runs and reports the numbers (docs/scale.md).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from redline.engine.gate import CallGate
from redline.model import Message, Transcript
from redline.targets import build_target
from redline.targets._http import close_shared_session
from redline.testserver import ServerConfig, running_server

HELLO = [Message("user", "hello there")]
CALLS = 300


@dataclass
class Hammered:
    ok: int
    failed: int
    seconds: float
    limits: list[int]
    """The gate's concurrency limit after each call."""
    cuts: int
    """How many times an overload answer cut the limit."""

    @property
    def per_second(self) -> float:
        return self.ok / self.seconds


def hammer(
    base_url: str,
    *,
    calls: int = CALLS,
    concurrency: int = 32,
    adaptive: bool = True,
    requests_per_minute: float | None = None,
) -> Hammered:
    """``calls`` chats through one gate by ``concurrency`` workers, as the engine runs them."""

    async def go() -> Hammered:
        target = build_target({"type": "openai", "base_url": base_url, "model": "m"})
        gate = CallGate(
            target,
            concurrency=concurrency,
            adaptive_concurrency=adaptive,
            requests_per_minute=requests_per_minute,
            max_retries=1000,
        )
        limits: list[int] = []
        failed = 0
        todo = iter(range(calls))

        async def worker() -> None:
            nonlocal failed
            for _ in todo:
                try:
                    await gate.chat(HELLO, None, Transcript())
                except Exception:
                    failed += 1
                limits.append(gate.concurrency_now)

        started = time.perf_counter()
        try:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        finally:
            await gate.aclose()
            await target.aclose()
            await close_shared_session()
        seconds = time.perf_counter() - started
        return Hammered(calls - failed, failed, seconds, limits, gate.concurrency.decreases)

    return asyncio.run(go())


def test_a_server_allowing_4_at_once_gets_its_allowance_without_a_429_storm():
    config = ServerConfig(mode="echo", latency_ms=20, max_concurrent=4, retry_after_s=0.01)
    with running_server(config) as srv:  # the baseline: a client set to exactly 4
        best = hammer(srv.base_url, concurrency=4, adaptive=False)
        assert srv.by_status == {200: CALLS}
    with running_server(config) as srv:
        adaptive = hammer(srv.base_url)
        statuses = srv.by_status
        assert srv.peak_in_flight <= 4
    assert (adaptive.ok, adaptive.failed) == (CALLS, 0) and statuses[200] == CALLS
    rejected = statuses.get(429, 0)
    # the first round trip at 32 is refused 28 times; after that only rare probes are
    assert rejected < 0.25 * CALLS, statuses
    assert 3 <= adaptive.limits[-1] <= 5  # it settled at what the server allows, not at 32
    assert adaptive.per_second > 0.6 * best.per_second, (adaptive.per_second, best.per_second)

    with running_server(config) as srv:
        fixed = hammer(srv.base_url, adaptive=False, calls=100)
        hammered = srv.by_status.get(429, 0)
    assert (fixed.ok, fixed.failed) == (100, 0)
    assert hammered / 100 > 5 * rejected / CALLS, (hammered, rejected)  # a storm, per call


def test_a_server_allowing_200_a_second_gets_its_allowance_without_a_429_storm():
    config = ServerConfig(mode="echo", latency_ms=20, requests_per_second=200, burst=10)
    with running_server(config) as srv:
        adaptive = hammer(srv.base_url)
        statuses = srv.by_status
    assert (adaptive.ok, adaptive.failed) == (CALLS, 0) and statuses[200] == CALLS
    rejected = statuses.get(429, 0)
    assert rejected < 0.25 * CALLS, statuses
    assert max(adaptive.limits[-50:]) < 16  # 200/s x ~22 ms = 4.4 calls at once are enough

    with running_server(config) as srv:  # the most this machine gets through now, at any cost
        fixed = hammer(srv.base_url, adaptive=False)
        hammered = srv.by_status.get(429, 0)
    assert (fixed.ok, fixed.failed) == (CALLS, 0)
    assert hammered > 5 * rejected, (hammered, rejected)  # a storm
    allowance = 200 + 10 / adaptive.seconds  # the rate, and the burst spread over the run
    reachable = min(allowance, fixed.per_second)
    assert adaptive.per_second > 0.6 * reachable, (adaptive.per_second, reachable)


def test_the_server_rate_limit_refills_and_says_when_to_come_back():
    import json
    import urllib.error
    import urllib.request

    config = ServerConfig(mode="echo", requests_per_second=5, burst=2)
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    with running_server(config) as srv:

        def post() -> tuple[int, str | None]:
            request = urllib.request.Request(
                f"{srv.base_url}/chat/completions",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return response.status, None
            except urllib.error.HTTPError as exc:
                return exc.code, exc.headers.get("Retry-After")

        assert [post()[0] for _ in range(2)] == [200, 200]  # the burst
        status, retry_after = post()
        assert status == 429 and retry_after is not None
        assert 0 < float(retry_after) <= 0.2  # one token every 0.2 s
        time.sleep(float(retry_after) + 0.05)
        assert post()[0] == 200
        assert srv.by_status == {200: 3, 429: 1}


def test_unlimited_servers_keep_the_configured_concurrency():
    with running_server(ServerConfig(mode="echo", latency_ms=10)) as srv:
        result = hammer(srv.base_url, calls=100)
        assert srv.by_status == {200: 100}
    assert (result.ok, result.failed, result.cuts) == (100, 0, 0)
    # nothing refused: only latency growth beyond 4x the usual could take one away
    assert min(result.limits) >= 28


def test_a_retry_after_is_waited_out_in_full_with_a_little_jitter():
    from redline.engine.gate import RETRY_AFTER_JITTER
    from redline.errors import TransientCallError

    gate = CallGate(
        build_target({"type": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m"}),
        retry_after_max_s=600,
    )
    told = TransientCallError("HTTP 429", status=429, retry_after=120.0)
    waits = {gate.delay(1, told) for _ in range(50)}
    assert all(120.0 <= w <= 120.0 * (1 + RETRY_AFTER_JITTER) for w in waits)
    assert len(waits) > 1  # calls told the same wait come back at different moments
    capped = CallGate(
        build_target({"type": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m"}),
        retry_after_max_s=5,
    )
    assert max(capped.delay(1, told) for _ in range(20)) <= 5 * (1 + RETRY_AFTER_JITTER)
