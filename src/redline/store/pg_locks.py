"""Run locks on a PostgreSQL store: the server's advisory locks, which hold across machines.

The same promises as the file locks of a SQLite store (:mod:`redline.store.locks`), for scans
on several machines sharing one database:

- A run being executed is held by a session-level advisory lock (``pg_try_advisory_lock``) on
  a 64-bit key derived from its id, taken on a connection of its own that stays open for the
  run's life. A second ``scan --resume`` of that run, from any machine, finds it taken and
  refuses, naming the holder (the lock connection's ``application_name``: process id and
  host, where the server lets the role see it).
- The server lets the lock go when that connection ends, however the process ended
  (``kill -9`` included; a machine that vanished from the network, once the server's TCP
  keepalive gives up on it). A run whose status is still ``running`` but whose lock nobody
  holds (``pg_locks``) is shown as ``interrupted``.

Advisory locks belong to one database: every machine must use the same one (same URL), which
is what sharing a store means anyway.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from redline.errors import StoreError
from redline.store.locks import RunLock, RunLocks

_HOLDERS = text(
    "SELECT a.application_name, host(a.client_addr) FROM pg_locks l "
    "LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND l.classid::bigint = :high AND l.objid::bigint = :low"
)


_APP = "redline: "
"""How a lock connection's ``application_name`` starts (then the holder's PID and host)."""


def lock_key(run_id: str) -> int:
    """The advisory lock key of ``run_id``: a signed 64-bit integer from its SHA-256."""
    digest = hashlib.sha256(f"redline run\x1f{run_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _halves(key: int) -> dict[str, int]:
    """How ``pg_locks`` shows a bigint key: its high and low 32 bits, unsigned."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return {"high": unsigned >> 32, "low": unsigned & 0xFFFFFFFF}


class AdvisoryRunLock(RunLock):
    """A held advisory lock and the connection that holds it; :meth:`release` ends both."""

    def __init__(self, connection: Any, key: int, pooled: Any = None) -> None:
        super().__init__()
        self._connection: Any = connection
        self._pooled = pooled  # the pool's (detached) wrapper: kept for as long as the lock
        self.key = key

    def release(self) -> None:
        """Let the lock go and close its connection (idempotent)."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        with contextlib.suppress(Exception):
            connection.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        with contextlib.suppress(Exception):
            connection.close()
        self._pooled = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if self._connection is not None:
                self._connection.close()


class AdvisoryRunLocks(RunLocks):
    """The run locks of a PostgreSQL store."""

    def __init__(self, engine: Engine) -> None:
        self.folder = None
        self.engine = engine

    def acquire(self, run_id: str) -> RunLock:
        """Hold ``run_id``'s lock, or raise :class:`StoreError` naming the process that does."""
        key = lock_key(run_id)
        connection: Any = None
        try:
            pooled = self.engine.raw_connection()
            pooled.detach()  # its own connection: never handed to anyone else by the pool
            connection = pooled.dbapi_connection
            connection.rollback()
            connection.autocommit = True
            holder = f"{_APP}pid {os.getpid()} on {socket.gethostname()}"[:63]
            connection.execute("SELECT set_config('application_name', %s, false)", (holder,))
            taken = connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]
        except Exception as exc:  # the driver's errors and SQLAlchemy's alike
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.close()
            raise StoreError(f"cannot take the lock of run {run_id}: {exc}") from exc
        if taken:
            return AdvisoryRunLock(connection, key, pooled)
        with contextlib.suppress(Exception):
            connection.close()
        raise StoreError(
            f"run {run_id} is being executed by another process ({self._holder(key)}); "
            "wait for it to finish, or stop it first"
        )

    def held(self, run_id: str) -> bool | None:
        """Whether a live session holds ``run_id``'s lock (``None``: the server cannot say)."""
        try:
            with self.engine.connect() as conn:
                return conn.execute(_HOLDERS, _halves(lock_key(run_id))).first() is not None
        except SQLAlchemyError:
            return None

    def _holder(self, key: int) -> str:
        """Who holds ``key``, as far as the server lets this role see."""
        with contextlib.suppress(SQLAlchemyError), self.engine.connect() as conn:
            row = conn.execute(_HOLDERS, _halves(key)).first()
            if row is not None and row[0]:
                name = str(row[0]).removeprefix(_APP)
                return f"{name}, from {row[1]}" if row[1] else name
        return "process unknown"
