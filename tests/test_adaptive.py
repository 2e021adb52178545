from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from redline.config import Limits
from redline.engine.adaptive import AdaptiveLimit
from redline.engine.gate import CallGate
from redline.errors import TransientCallError
from redline.model import Message, Reply, Transcript
from redline.targets import build_target
from redline.targets._http import close_shared_session
from redline.testserver import ServerConfig, running_server

HELLO = [Message("user", "hello there")]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def settle() -> None:
    """Let every task that can run, run."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_it_is_a_fifo_semaphore_at_the_configured_concurrency():
    async def go() -> None:
        slots = AdaptiveLimit(2)
        await slots.acquire()
        await slots.acquire()
        order: list[int] = []

        async def wait(n: int) -> None:
            await slots.acquire()
            order.append(n)

        waiters = [asyncio.create_task(wait(n)) for n in range(3)]
        await settle()
        assert order == [] and slots.in_flight == 2
        slots.release()
        await settle()
        assert order == [0]
        slots.release()
        slots.release()
        await settle()
        assert order == [0, 1, 2] and slots.in_flight == 2
        await asyncio.gather(*waiters)

    run(go())


def test_a_burst_of_overload_signals_from_one_epoch_halves_once():
    async def go() -> None:
        slots = AdaptiveLimit(32)
        epochs = [await slots.acquire() for _ in range(32)]
        for epoch in epochs:  # 32 calls already in flight all come back 429
            slots.overloaded(epoch)
            slots.release()
        assert slots.limit == 16 and slots.decreases == 1
        # a call taken after the cut is a new signal
        epoch = await slots.acquire()
        slots.overloaded(epoch)
        slots.release()
        assert slots.limit == 8 and slots.decreases == 2
        for _ in range(10):
            epoch = await slots.acquire()
            slots.overloaded(epoch)
            slots.release()
        assert slots.limit == 1  # the floor

    run(go())


def test_a_lower_limit_holds_back_waiters_until_enough_calls_end():
    async def go() -> None:
        slots = AdaptiveLimit(4)
        epochs = [await slots.acquire() for _ in range(4)]
        admitted: list[int] = []

        async def wait(n: int) -> None:
            await slots.acquire()
            admitted.append(n)

        waiters = [asyncio.create_task(wait(n)) for n in range(3)]
        await settle()
        slots.overloaded(epochs[0])  # limit 4 -> 2 while 4 are in flight
        assert slots.limit == 2
        slots.release()
        slots.release()
        await settle()
        assert admitted == [] and slots.in_flight == 2
        slots.release()
        await settle()
        assert admitted == [0] and slots.in_flight == 2
        for _ in range(4):
            slots.release()
        await asyncio.gather(*waiters)
        assert admitted == [0, 1, 2]

    run(go())


def test_the_limit_grows_back_one_per_window_of_successes_up_to_the_maximum():
    async def go() -> None:
        slots = AdaptiveLimit(8)
        for _ in range(3):
            epoch = await slots.acquire()
            slots.overloaded(epoch)
            slots.release()
        assert slots.limit == 1
        seen = [slots.limit]
        for _ in range(100):  # the pressure is gone: every call succeeds
            await slots.acquire()
            slots.succeeded()
            slots.release()
            if slots.limit != seen[-1]:
                seen.append(slots.limit)
        assert seen == [1, 2, 3, 4, 5, 6, 7, 8]  # additive: +1 at a time, never above 8

        # 1 success takes 1 -> 2, 2 more take 2 -> 3, ...: limit - 1 successes in all
        slots = AdaptiveLimit(4)
        for _ in range(2):
            slots.overloaded(await slots.acquire())
            slots.release()
        assert slots.limit == 1
        for n in range(1 + 2 + 3):
            assert slots.limit < 4, n
            slots.succeeded()
        assert slots.limit == 4

    run(go())


def test_growing_the_limit_lets_waiters_in():
    async def go() -> None:
        slots = AdaptiveLimit(4)
        slots.overloaded(await slots.acquire())  # limit 2, 1 in flight
        await slots.acquire()
        waiter = asyncio.create_task(slots.acquire())
        await settle()
        assert not waiter.done()
        slots.succeeded()
        slots.succeeded()  # 2 successes at limit 2: limit 3
        await settle()
        assert waiter.done() and slots.in_flight == 3 and slots.limit == 3

    run(go())


def test_a_fixed_limit_ignores_the_signals():
    async def go() -> None:
        slots = AdaptiveLimit(4, adaptive=False)
        slots.overloaded(await slots.acquire())
        slots.release()
        assert slots.limit == 4 and slots.decreases == 0

    run(go())


def test_cancelled_waiters_leave_no_slot_taken():
    async def go() -> None:
        slots = AdaptiveLimit(1)
        await slots.acquire()
        first = asyncio.create_task(slots.acquire())
        second = asyncio.create_task(slots.acquire())
        await settle()
        first.cancel()  # cancelled while waiting
        await settle()
        assert first.cancelled() and len(slots._waiters) == 1
        slots.release()  # granted to second ...
        second.cancel()  # ... which is cancelled before it runs: the slot is passed on
        await settle()
        assert second.cancelled()
        assert slots.in_flight == 0 and not slots._waiters
        await slots.acquire()
        assert slots.in_flight == 1

    run(go())


def test_the_limit_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        AdaptiveLimit(0)


class Overloaded:
    """A target that answers with the given status until told to recover."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.failing = True

    async def chat(self, messages: Sequence[Message], params: dict[str, Any]) -> Reply:
        await asyncio.sleep(0)
        if self.failing:
            raise TransientCallError(f"HTTP {self.status}", status=self.status, retry_after=0)
        return Reply(text="ok")

    async def aclose(self) -> None:
        pass


@pytest.mark.parametrize(("status", "cut"), [(429, True), (503, True), (500, False)])
def test_the_gate_cuts_its_concurrency_on_429_and_503_only(status: int, cut: bool):
    async def go() -> None:
        target = Overloaded(status)
        gate = CallGate(target, concurrency=16, max_retries=0)  # type: ignore[arg-type]
        try:
            assert gate.concurrency_now == 16
            with pytest.raises(TransientCallError):
                await gate.chat(HELLO, None, Transcript())
            assert gate.concurrency_now == (8 if cut else 16)
            target.failing = False
            for _ in range(8):
                await gate.chat(HELLO, None, Transcript())
            assert gate.concurrency_now == (9 if cut else 16)
        finally:
            await gate.aclose()

    run(go())


def test_limits_turn_it_on_by_default_and_off_on_request():
    async def go() -> None:
        for adaptive in (True, False):
            limits = Limits(concurrency=4, adaptive_concurrency=adaptive, max_retries=0)
            gate = CallGate.from_limits(Overloaded(429), limits)  # type: ignore[arg-type]
            try:
                with pytest.raises(TransientCallError):
                    await gate.chat(HELLO, None, Transcript())
                assert gate.concurrency_now == (2 if adaptive else 4)
            finally:
                await gate.aclose()

    assert Limits().adaptive_concurrency is True
    run(go())


def hammer(base_url: str, *, adaptive: bool, calls: int) -> tuple[int, int, list[int]]:
    """``calls`` chats at concurrency 32 through one gate; (successes, failures, limits seen)."""

    async def go() -> tuple[int, int, list[int]]:
        target = build_target({"type": "openai", "base_url": base_url, "model": "m"})
        gate = CallGate(target, concurrency=32, adaptive_concurrency=adaptive, max_retries=1000)
        seen: list[int] = []

        async def one() -> None:
            await gate.chat(HELLO, None, Transcript())
            seen.append(gate.concurrency_now)

        try:
            results = await asyncio.gather(*(one() for _ in range(calls)), return_exceptions=True)
        finally:
            await gate.aclose()
            await target.aclose()
            await close_shared_session()
        failures = sum(isinstance(r, BaseException) for r in results)
        return calls - failures, failures, seen

    result: tuple[int, int, list[int]] = asyncio.run(go())
    return result


def test_a_server_allowing_4_at_once_gets_no_429_storm_from_concurrency_32():
    config = ServerConfig(mode="echo", latency_ms=10, max_concurrent=4, retry_after_s=0.01)
    calls = 300
    with running_server(config) as srv:
        ok, failed, seen = hammer(srv.base_url, adaptive=True, calls=calls)
        adaptive = srv.by_status
        assert srv.peak_in_flight <= 4
    assert (ok, failed) == (calls, 0)
    assert adaptive[200] == calls
    rejected = adaptive.get(429, 0)
    assert rejected < 0.25 * (calls + rejected), adaptive
    assert seen[-1] <= 8  # it settled near what the server allows, not at 32

    with running_server(config) as srv:
        ok, failed, _ = hammer(srv.base_url, adaptive=False, calls=calls)
        fixed = srv.by_status
    assert (ok, failed) == (calls, 0)
    assert fixed.get(429, 0) > 2 * rejected, (fixed, adaptive)


def test_the_server_limit_leaves_other_modes_alone():
    with running_server(ServerConfig(mode="echo", latency_ms=10)) as srv:
        ok, failed, seen = hammer(srv.base_url, adaptive=True, calls=100)
        assert srv.by_status == {200: 100}
    assert (ok, failed) == (100, 0) and set(seen) == {32}


def test_the_progress_bar_shows_the_live_concurrency():
    from types import SimpleNamespace

    from rich.console import Console

    from redline.cli.scan import _progress
    from redline.engine.adaptive import AdaptiveLimit

    progress, on_result, on_gate = _progress(10, 0, Console(), enabled=False)
    limit = AdaptiveLimit(16)
    on_gate(SimpleNamespace(concurrency=limit))
    verdict = SimpleNamespace(outcome=SimpleNamespace(value="safe"))
    on_result(SimpleNamespace(verdicts=[verdict]))
    (task,) = progress.tasks
    assert task.fields["concurrency"] == "in flight 0/16"
    limit.overloaded(limit.epoch)
    on_result(SimpleNamespace(verdicts=[verdict]))
    assert progress.tasks[0].fields["concurrency"] == "in flight 0/8 (max 16)"
