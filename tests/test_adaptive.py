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


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def steady(slots: AdaptiveLimit, clock: Clock, *, at_once: int, latency: float, rounds: int):
    """``rounds`` round trips of ``at_once`` calls succeeding together in ``latency`` s each."""
    for _ in range(rounds):
        clock.now += latency
        for _ in range(at_once):
            slots.succeeded(latency)


def test_the_limit_grows_back_one_per_window_of_successes_up_to_the_maximum():
    async def go() -> None:
        slots = AdaptiveLimit(8, latency_tolerance=None)
        for _ in range(3):
            epoch = await slots.acquire()
            slots.overloaded(epoch)  # no successes measured yet: halved
            slots.release()
        assert slots.limit == 1
        seen = [slots.limit]
        for _ in range(200):  # the pressure is gone: every call succeeds
            await slots.acquire()
            slots.succeeded()
            slots.release()
            if slots.limit != seen[-1]:
                seen.append(slots.limit)
        assert seen == [1, 2, 3, 4, 5, 6, 7, 8]  # additive: +1 at a time, never above 8

    run(go())


def test_below_the_refused_level_each_window_of_successes_adds_one():
    slots = AdaptiveLimit(16)
    slots.overloaded(slots.epoch)  # refused at 16, nothing measured: halved to 8
    assert slots.limit == 8
    for expected in (9, 10, 11, 12, 13, 14):
        for _ in range(slots.limit - 1):
            slots.succeeded()
        assert slots.limit == expected - 1
        slots.succeeded()  # the limit-th success in a row
        assert slots.limit == expected


def test_the_cut_goes_to_the_calls_that_were_succeeding_not_to_half():
    clock = Clock()
    slots = AdaptiveLimit(32, clock=clock)
    steady(slots, clock, at_once=4, latency=0.02, rounds=20)  # 4 at a time for 0.4 s
    assert slots.succeeding_concurrency() == pytest.approx(4.0)
    slots.overloaded(slots.epoch)
    assert slots.limit == 4 and slots.decreases == 1  # not 16
    # never above limit - 1: a refused limit of 5 while 5 seemed to succeed still goes down
    steady(slots, clock, at_once=5, latency=0.02, rounds=20)
    slots.limit = 5
    slots.overloaded(slots.epoch)
    assert slots.limit == 4


def test_without_a_full_window_of_history_the_cut_halves():
    clock = Clock()
    slots = AdaptiveLimit(32, clock=clock)
    steady(slots, clock, at_once=20, latency=0.02, rounds=1)  # one burst: too little to read
    assert slots.succeeding_concurrency() is None
    slots.overloaded(slots.epoch)
    assert slots.limit == 16


def test_probing_a_refused_level_again_waits_twice_as_long_each_time():
    clock = Clock()
    slots = AdaptiveLimit(32, latency_tolerance=None, clock=clock)
    steady(slots, clock, at_once=4, latency=0.02, rounds=20)
    waits = []
    for _ in range(4):
        slots.limit = 5  # the server allows 4: a probe at 5 is refused
        slots.overloaded(slots.epoch)
        assert slots.limit == 4
        successes = 0
        while slots.limit == 4:
            clock.now += 0.005
            slots.succeeded(0.02)
            successes += 1
        waits.append(successes)
    assert waits == [8, 16, 32, 64]  # 4 * 2**k: the level that failed is probed ever more rarely

    # a probe that holds for twice its wait clears the refused level: back to one per window
    for _ in range(2 * (5 << 4)):
        clock.now += 0.005
        slots.succeeded(0.02)
    grown = slots.limit
    assert grown >= 6
    for _ in range(grown):
        slots.succeeded(0.02)
    assert slots.limit == grown + 1


def test_latency_growth_stops_the_growth_and_takes_one_away_per_window():
    clock = Clock()
    slots = AdaptiveLimit(32, clock=clock)
    slots.overloaded(slots.epoch)  # 16
    steady(slots, clock, at_once=1, latency=0.02, rounds=40)  # the usual: 20 ms
    before = slots.limit
    assert before > 16
    steady(slots, clock, at_once=1, latency=0.1, rounds=15)  # a queue builds: 5x as long
    assert slots.latency_high
    steady(slots, clock, at_once=1, latency=0.1, rounds=3 * before)
    assert slots.limit < before and slots.latency_decreases >= 2

    ignored = AdaptiveLimit(32, latency_tolerance=None, clock=clock)
    ignored.overloaded(ignored.epoch)
    steady(ignored, clock, at_once=1, latency=0.02, rounds=40)
    steady(ignored, clock, at_once=1, latency=0.1, rounds=60)
    assert not ignored.latency_high and ignored.latency_decreases == 0
    assert ignored.limit > 16


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


class Queueing:
    """A server that queues instead of refusing: 4 answered at once, the rest wait their turn."""

    def __init__(self, capacity: int, latency_s: float) -> None:
        self.slots = asyncio.Semaphore(capacity)
        self.latency_s = latency_s

    async def chat(self, messages: Sequence[Message], params: dict[str, Any]) -> Reply:
        async with self.slots:
            await asyncio.sleep(self.latency_s)
        return Reply(text="ok")

    async def aclose(self) -> None:
        pass


def test_a_queueing_server_gets_fewer_calls_in_flight_when_its_latency_grows():
    async def go(tolerance: float | None) -> AdaptiveLimit:
        gate = CallGate(Queueing(4, 0.005), concurrency=32, latency_tolerance=tolerance)  # type: ignore[arg-type]
        todo = iter(range(800))

        async def worker() -> None:
            for _ in todo:
                await gate.chat(HELLO, None, Transcript())

        await asyncio.gather(*(worker() for _ in range(32)))
        await gate.aclose()
        return gate.concurrency

    held = run(go(2.0))
    # 32 in flight make every call wait 8 turns: the latency signal takes the limit down
    assert held.latency_decreases >= 5 and held.limit < 32 and held.decreases == 0
    ignored = run(go(None))
    assert ignored.latency_decreases == 0 and ignored.limit == 32


def test_the_progress_bar_shows_the_live_call_rate():
    import time
    from types import SimpleNamespace

    from rich.console import Console

    from redline.cli.scan import _progress

    progress, on_result, on_gate = _progress(10, 0, Console(), enabled=False)
    gate = SimpleNamespace(concurrency=AdaptiveLimit(4), requests=0)
    on_gate(gate)
    verdict = SimpleNamespace(outcome=SimpleNamespace(value="safe"))
    started = time.monotonic()
    time.sleep(0.3)
    gate.requests = 60
    on_result(SimpleNamespace(verdicts=[verdict]))
    elapsed = time.monotonic() - started
    shown = progress.tasks[0].fields["concurrency"]
    assert shown.startswith("in flight 0/4 · ") and shown.endswith(" calls/s")
    rate = float(shown.split(" · ")[1].split()[0])
    assert 60 / (elapsed + 0.05) <= rate <= 60 / 0.3 + 1
