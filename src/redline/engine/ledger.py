"""The driver's ledger of a distributed run: where every pending attempt is.

Workers on other machines can die with attempts in flight, and a transport that retries can
deliver one result twice. The ledger is what the driver trusts instead: each attempt id is
``queued``, ``in flight`` on one worker, or ``done``. A worker that dies gives its in-flight
attempts back to the queue (:meth:`Ledger.lost`); a result for an id already done is a
duplicate and is refused (:meth:`Ledger.finish` returns ``False``), so the store receives every
attempt exactly once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from redline.model import PlannedAttempt


class Ledger:
    """Which attempts are queued, in flight on which worker, or done."""

    def __init__(self, pending: Iterable[PlannedAttempt]) -> None:
        self._planned: dict[str, PlannedAttempt] = {}
        self._queue: deque[str] = deque()
        for planned in pending:
            if planned.id not in self._planned:
                self._planned[planned.id] = planned
                self._queue.append(planned.id)
        self._queued: set[str] = set(self._queue)
        self._where: dict[str, str] = {}
        """Attempt id -> the worker it is in flight on."""
        self._done: set[str] = set()
        self.resent = 0
        """Attempts given back to the queue after their worker was lost."""
        self.duplicates = 0
        """Results refused because their attempt was already done."""
        self.unknown = 0
        """Results refused because their attempt is not in this ledger."""

    @property
    def total(self) -> int:
        """Attempts the ledger was given."""
        return len(self._planned)

    @property
    def done(self) -> int:
        """Attempts finished (each counted once)."""
        return len(self._done)

    @property
    def queued(self) -> int:
        """Attempts waiting for a worker."""
        return len(self._queued)

    @property
    def in_flight(self) -> int:
        """Attempts sent to a worker and not finished."""
        return len(self._where)

    @property
    def finished(self) -> bool:
        """Every attempt is done."""
        return len(self._done) == len(self._planned)

    def take(self, worker: str) -> PlannedAttempt | None:
        """The next queued attempt, now in flight on ``worker``; ``None`` when none is queued."""
        while self._queue:
            attempt_id = self._queue.popleft()
            if attempt_id not in self._queued:  # finished by a late result while queued
                continue
            self._queued.discard(attempt_id)
            self._where[attempt_id] = worker
            return self._planned[attempt_id]
        return None

    def finish(self, attempt_id: str) -> bool:
        """Record a result for ``attempt_id``; ``False`` when it must not be stored.

        The first result for an attempt wins, wherever it comes from (a late result from a
        worker thought lost included); any later one is a duplicate.
        """
        if attempt_id not in self._planned:
            self.unknown += 1
            return False
        if attempt_id in self._done:
            self.duplicates += 1
            return False
        self._done.add(attempt_id)
        self._where.pop(attempt_id, None)
        self._queued.discard(attempt_id)
        return True

    def release(self, attempt_id: str) -> None:
        """Put an in-flight attempt back at the front of the queue (its worker gave it up)."""
        if attempt_id in self._done or attempt_id in self._queued:
            return
        self._where.pop(attempt_id, None)
        self._queued.add(attempt_id)
        self._queue.appendleft(attempt_id)

    def lost(self, worker: str) -> list[str]:
        """Requeue every attempt in flight on ``worker`` (it died); returns their ids."""
        ids = [attempt_id for attempt_id, where in self._where.items() if where == worker]
        for attempt_id in ids:
            self.release(attempt_id)
        self.resent += len(ids)
        return ids

    def on(self, worker: str) -> list[str]:
        """The attempts in flight on ``worker``."""
        return [attempt_id for attempt_id, where in self._where.items() if where == worker]
