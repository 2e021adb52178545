"""Run a judge's CPU work on a worker thread, in batches, off the event loop.

An offline classifier spends CPU on every reply. Run inline, that time blocks the event loop
that drives every target call of the scan; run here, the loop only hands the reply over and
awaits a future, and the worker scores whatever has queued up meanwhile in one batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_Job = tuple[T, asyncio.Future, asyncio.AbstractEventLoop]


class BatchWorker(Generic[T, R]):
    """A daemon thread that applies ``score(batch) -> results`` to queued items.

    ``await worker.submit(item)`` returns that item's result (or raises the exception the
    batch raised). The thread starts with the first item and lives as long as the process.
    """

    def __init__(self, score: Callable[[Sequence[T]], Sequence[R]], max_batch: int = 64) -> None:
        self.score = score
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    async def submit(self, item: T) -> R:
        """Queue ``item`` and wait for its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.put((item, future, loop))
        if self._thread is None:
            self._start()
        return await future

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="redline-judge-worker", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            jobs = [self._queue.get()]
            while len(jobs) < self.max_batch:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                results = list(self.score([item for item, _, _ in jobs]))
            except Exception as exc:  # delivered to every waiter of the batch
                for _, future, loop in jobs:
                    _deliver(loop, future, None, exc)
                continue
            for (_, future, loop), result in zip(jobs, results, strict=True):
                _deliver(loop, future, result, None)


def _deliver(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future,
    result: object,
    error: BaseException | None,
) -> None:
    def settle() -> None:
        if future.done():  # the waiter was cancelled
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
        loop.call_soon_threadsafe(settle)
