"""Adaptive concurrency: an async limit on calls in flight that backs off when a server does.

AIMD, as TCP does it: the limit starts at the configured concurrency (its ceiling); a call
answered with 429 or 503 halves it (floor 1); each run of ``limit`` successful calls in a row
adds one, up to the ceiling. A burst of overload answers from calls that were already in
flight when the limit was cut halves it only once: each slot carries the epoch it was taken
in, and an overload signal from a slot older than the last cut is ignored (one decrease per
round trip, measured in calls, not in seconds).

The limit may change while tasks wait; a waiter is let in only when the calls in flight are
below the limit, and waiters are served first come, first served.
"""

from __future__ import annotations

import asyncio
from collections import deque

OVERLOAD_STATUSES = frozenset({429, 503})
"""The answers that mean "too much, slow down": rate limited, overloaded."""


class AdaptiveLimit:
    """An async concurrency limit between 1 and ``maximum`` that follows overload signals.

    ``epoch = await acquire()`` takes a slot, ``release()`` gives it back; between them the
    caller reports the call's outcome with ``succeeded()`` or ``overloaded(epoch)``. With
    ``adaptive=False`` the reports are ignored and the limit stays at ``maximum``: a plain
    FIFO semaphore.
    """

    __slots__ = (
        "_maximum",
        "_successes",
        "_waiters",
        "adaptive",
        "decreases",
        "epoch",
        "in_flight",
        "limit",
    )

    def __init__(self, maximum: int, *, adaptive: bool = True) -> None:
        if maximum < 1:
            raise ValueError(f"a concurrency limit must be at least 1, not {maximum}")
        self.limit = maximum
        """The calls allowed in flight now."""
        self.adaptive = adaptive
        self.in_flight = 0
        self.epoch = 0
        """Bumped at each decrease; slots taken before it cannot cause another."""
        self.decreases = 0
        """How many times the limit was cut (for tests and progress displays)."""
        self._successes = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._maximum = maximum

    @property
    def maximum(self) -> int:
        """The ceiling: the configured concurrency."""
        return self._maximum

    async def acquire(self) -> int:
        """Wait for a slot; return the epoch it was taken in (for :meth:`overloaded`)."""
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return self.epoch
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # granted, then cancelled before it ran: pass the slot on
            else:
                self._waiters.remove(waiter)
            raise
        return self.epoch

    def release(self) -> None:
        """Give a slot back."""
        self.in_flight -= 1
        self._wake()

    def succeeded(self) -> None:
        """A call succeeded: after ``limit`` of them in a row, allow one more (up to the max)."""
        if self.limit >= self._maximum or not self.adaptive:
            return
        self._successes += 1
        if self._successes >= self.limit:
            self._successes = 0
            self.limit += 1
            self._wake()

    def overloaded(self, epoch: int) -> None:
        """A call taken in ``epoch`` was answered 429 or 503: halve the limit, once per epoch."""
        if not self.adaptive or epoch != self.epoch:
            return
        self.epoch += 1
        self.decreases += 1
        self._successes = 0
        self.limit = max(1, self.limit // 2)

    def _wake(self) -> None:
        waiters = self._waiters
        while waiters and self.in_flight < self.limit:
            waiter = waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)
