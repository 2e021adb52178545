"""Adaptive concurrency: an async limit on calls in flight that backs off when a server does.

AIMD, as TCP does it, with three refinements that keep a limited server busy without a storm
of 429s:

- **The cut goes to what the server answered, not blindly to half.** A 429 or 503 sets the
  limit to the number of calls that were succeeding at once just before it (Little's law: the
  busy time of the calls that succeeded in the last few round trips, divided by that time),
  never above ``limit - 1``. Without a full window of history to measure (the first round
  trips of a run, when a rate limiter's burst allowance would skew it) the limit is halved.
  A burst of overload answers from calls that were already in flight when the limit was cut
  cuts it only once: each slot carries the epoch it was taken in, and a signal from a slot
  older than the last cut is ignored.
- **Probing a level that failed gets slower each time it fails again.** The limit grows by
  one after each window of ``limit`` successes in a row; growing to the level where the last
  overload happened (or above it) takes ``limit * 2**k`` successes, ``k`` growing by one (up
  to ``MAX_PROBE_BACKOFF``) each time that level, or a higher one, is refused again.
  ``PROBE_HOLD * level * 2**k`` successes at or above that level clear it: the server allows
  more now (a rate limiter with a burst allowance answers an excess late, when its burst is
  spent).
- **Latency growth holds the limit back.** Successful calls feed a short moving average of
  their latency (about the last 10 calls) and a long one (about 50); the usual latency is
  the lowest long average seen, drifting up by ``BASELINE_DRIFT`` per call. While the short
  average is more than ``latency_tolerance`` times the usual (a queue is building at the
  server: the same work takes longer) the limit does not grow; beyond ``LATENCY_CUT`` times
  that it comes down by one per window of successes. Averages rather than single calls, and
  the drift, keep the signal usable for language models, whose latency depends on the length
  of each reply and may change for good as a run's prompts do.

The limit starts at the configured concurrency (its ceiling) and never exceeds it; its floor
is 1. It may change while tasks wait; a waiter is let in only when the calls in flight are
below the limit, and waiters are served first come, first served.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

OVERLOAD_STATUSES = frozenset({429, 503})
"""The answers that mean "too much, slow down": rate limited, overloaded."""

MAX_PROBE_BACKOFF = 4
"""Probing a refused level waits at most ``limit * 2**4`` successes (more probes would cost more
429s, fewer would leave a rate-limited server under-used between two whole limits)."""

PROBE_HOLD = 2
"""A refused level is forgotten after this many times its probe's wait in successes at it."""

LATENCY_WARMUP = 20
"""Successes measured before latency growth is read (the averages need a start)."""

SHORT_ALPHA = 0.1
"""Weight of each new latency in the short moving average (about the last 10 calls)."""

LONG_ALPHA = 0.02
"""Weight of each new latency in the long moving average (about the last 50 calls)."""

LATENCY_CUT = 2.0
"""Recent latency beyond ``LATENCY_CUT * latency_tolerance`` times the usual takes one away per
window; between the two it only stops the growth (a loaded client's own event loop adds
latency too, and cutting on that would cost throughput for nothing)."""

BASELINE_DRIFT = 0.0001
"""The usual latency (the lowest long average seen) rises by this share per success, so that
a server that became slower for good (longer prompts, a busier model) is the new usual after
some hundreds of calls."""

LITTLE_WINDOW_ROUND_TRIPS = 8.0
"""How many round trips (long average latency) of successes the cut's estimate reads."""

MIN_SUCCESSES_TO_ESTIMATE = 4
"""Fewer successes in the window than this: the estimate is unknown and the cut halves."""


class AdaptiveLimit:
    """An async concurrency limit between 1 and ``maximum`` that follows overload signals.

    ``epoch = await acquire()`` takes a slot, ``release()`` gives it back; between them the
    caller reports the call's outcome with ``succeeded(latency_s)`` or ``overloaded(epoch)``.
    ``latency_tolerance`` (``None``: latency is not read) is how many times its usual latency
    a server may take before the limit stops growing. With ``adaptive=False`` the reports
    are ignored and the limit stays at ``maximum``: a plain FIFO semaphore. ``clock`` (seconds,
    monotonic) times the successes.
    """

    __slots__ = (
        "_baseline",
        "_clock",
        "_done",
        "_long",
        "_maximum",
        "_probe_backoff",
        "_probe_clean",
        "_probe_level",
        "_samples",
        "_short",
        "_successes",
        "_waiters",
        "adaptive",
        "decreases",
        "epoch",
        "in_flight",
        "latency_decreases",
        "latency_tolerance",
        "limit",
    )

    def __init__(
        self,
        maximum: int,
        *,
        adaptive: bool = True,
        latency_tolerance: float | None = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if maximum < 1:
            raise ValueError(f"a concurrency limit must be at least 1, not {maximum}")
        if latency_tolerance is not None and latency_tolerance <= 1:
            raise ValueError(f"latency_tolerance must be above 1, not {latency_tolerance}")
        self.limit = maximum
        """The calls allowed in flight now."""
        self.adaptive = adaptive
        self.latency_tolerance = latency_tolerance
        self.in_flight = 0
        self.epoch = 0
        """Bumped at each overload cut; slots taken before it cannot cause another."""
        self.decreases = 0
        """How many times an overload answer cut the limit (for tests and progress displays)."""
        self.latency_decreases = 0
        """How many times latency growth lowered the limit by one."""
        self._successes = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._maximum = maximum
        self._probe_level: int | None = None
        self._probe_backoff = 0
        self._probe_clean = 0
        self._done: deque[tuple[float, float]] = deque(maxlen=4096)
        """``(ended, latency)`` of recent successes, oldest first (for the cut's estimate)."""
        self._short = 0.0
        self._long = 0.0
        self._baseline = 0.0
        self._clock = clock
        self._samples = 0

    @property
    def maximum(self) -> int:
        """The ceiling: the configured concurrency."""
        return self._maximum

    @property
    def latency_high(self) -> bool:
        """Whether the recent latency is more than ``latency_tolerance`` times the usual."""
        return self._samples >= LATENCY_WARMUP and self._short > self._threshold()

    def _threshold(self) -> float:
        """The latency above which the limit stops growing (infinite: latency is not read)."""
        if self.latency_tolerance is None:
            return float("inf")
        return self.latency_tolerance * self._baseline

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

    def succeeded(self, latency_s: float | None = None) -> None:
        """A call succeeded (in ``latency_s`` seconds, when measured): maybe allow one more."""
        if not self.adaptive:
            return
        if latency_s is not None:
            self._measure(latency_s)
        self._successes += 1
        if self.latency_high:
            if self._successes >= self.limit:  # a window of slow successes
                self._successes = 0
                if self.limit > 1 and self._short > LATENCY_CUT * self._threshold():
                    self.limit -= 1  # far beyond the usual: one less
                    self.latency_decreases += 1
            return
        if self._probe_level is not None and self.limit >= self._probe_level:
            self._probe_clean += 1
            if self._probe_clean >= PROBE_HOLD * (self._probe_level << self._probe_backoff):
                self._probe_level, self._probe_backoff = None, 0  # the refused level holds
        if self.limit >= self._maximum:
            self._successes = 0
            return
        needed = self.limit
        if self._probe_level is not None and self.limit + 1 >= self._probe_level:
            needed <<= self._probe_backoff
        if self._successes >= needed:
            self._successes = 0
            self.limit += 1
            self._wake()

    def overloaded(self, epoch: int) -> None:
        """A call taken in ``epoch`` was answered 429 or 503: cut the limit, once per epoch."""
        if not self.adaptive or epoch != self.epoch:
            return
        self.epoch += 1
        self.decreases += 1
        self._successes = 0
        self._probe_clean = 0
        refused = self.limit
        if self._probe_level is None:
            self._probe_backoff = 1
        elif refused >= self._probe_level:
            self._probe_backoff = min(MAX_PROBE_BACKOFF, self._probe_backoff + 1)
        # a lower level refused (the cut before went too little far) keeps the backoff
        self._probe_level = refused
        estimate = self.succeeding_concurrency()
        if estimate is None:
            self.limit = max(1, refused // 2)
        else:
            self.limit = max(1, min(refused - 1, round(estimate)))

    def succeeding_concurrency(self, now: float | None = None) -> float | None:
        """How many calls were succeeding at once over the last few round trips.

        Little's law over a window of ``LITTLE_WINDOW_ROUND_TRIPS`` long-average latencies:
        the busy time of the successes that ended in it (clipped to the window) divided by its
        length. ``None`` with fewer than ``MIN_SUCCESSES_TO_ESTIMATE`` successes in it.
        """
        if not self._done or self._long <= 0:
            return None
        now = self._clock() if now is None else now
        window = LITTLE_WINDOW_ROUND_TRIPS * self._long
        if now - (self._done[0][0] - self._done[0][1]) < window:
            return None  # less history than a window: the first bursts would skew it
        start = now - window
        busy, counted = 0.0, 0
        for ended, latency in reversed(self._done):
            if ended < start:
                break
            busy += ended - max(ended - latency, start)
            counted += 1
        if counted < MIN_SUCCESSES_TO_ESTIMATE:
            return None
        return busy / window

    def _measure(self, latency_s: float) -> None:
        self._done.append((self._clock(), latency_s))
        if self._samples == 0:
            self._short = self._long = self._baseline = latency_s
        else:
            self._short += SHORT_ALPHA * (latency_s - self._short)
            self._long += LONG_ALPHA * (latency_s - self._long)
            self._baseline = min(self._baseline * (1 + BASELINE_DRIFT), self._long)
        self._samples += 1

    def _wake(self) -> None:
        waiters = self._waiters
        while waiters and self.in_flight < self.limit:
            waiter = waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)
