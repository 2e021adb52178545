"""Per-call timeouts enforced by one watchdog task instead of one timer per call.

``asyncio.timeout`` schedules and cancels a timer handle for every call; at thousands of calls
per second that is measurable on the hot path. Here a call costs a dict insert and delete, and a
single task looks for overdue calls a few times per timeout period (at most every 0.25 s), so a
call may overrun its timeout by up to one tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import time


class Deadlines:
    """Cancels the tasks whose current call has run longer than ``timeout_s``."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.tick_s = min(max(timeout_s / 8, 0.005), 0.25)
        self._inflight: dict[asyncio.Task, float] = {}
        self._expired: set[asyncio.Task] = set()
        self._watcher: asyncio.Task | None = None

    def start(self, task: asyncio.Task) -> None:
        """Start timing ``task``'s call."""
        self._inflight[task] = time.monotonic() + self.timeout_s
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    def finish(self, task: asyncio.Task) -> None:
        """Stop timing ``task``'s call."""
        self._inflight.pop(task, None)

    def claim_timeout(self, task: asyncio.Task) -> bool:
        """True if the watchdog cancelled ``task``; the cancellation is then withdrawn."""
        if task in self._expired:
            self._expired.discard(task)
            task.uncancel()
            return True
        return False

    async def _watch(self) -> None:
        while self._inflight:
            await asyncio.sleep(self.tick_s)
            now = time.monotonic()
            overdue = [task for task, deadline in self._inflight.items() if deadline <= now]
            for task in overdue:
                del self._inflight[task]
                self._expired.add(task)
                task.cancel()

    async def aclose(self) -> None:
        """Stop the watchdog."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
