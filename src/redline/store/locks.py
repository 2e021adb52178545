"""Run locks: one process executes a run at a time, and a dead run shows as interrupted.

A run being executed is held by an advisory lock (``flock``) on a file named after it in a
folder beside the SQLite database (``redline.db.locks/RUN_ID.lock``, holding the PID and host
of its process). The operating system releases the lock when the process ends, however it
ends (``kill -9`` included), so:

- a second ``scan --resume`` of a run that is being executed finds the lock taken and refuses;
- a run whose status is still ``running`` but whose lock nobody holds was killed: it is shown
  as ``interrupted``.

SQLite files get these file locks (on a platform with ``fcntl``); a PostgreSQL store gets the
same promises from the server's advisory locks, which work across machines
(:mod:`redline.store.pg_locks`); :func:`run_locks` picks. For other stores
:meth:`RunLocks.held` answers ``None`` (unknown) and the stored status is shown as it is.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path

from sqlalchemy.engine import Engine, make_url

from redline.errors import StoreError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def lock_folder(url: str) -> Path | None:
    """Where the run locks of the store at ``url`` live, or ``None`` when it has none."""
    if fcntl is None:
        return None
    parsed = make_url(url)
    database = parsed.database
    if not parsed.drivername.startswith("sqlite") or database in (None, "", ":memory:"):
        return None
    if database.startswith("file:"):
        return None
    path = Path(database)
    return path.parent / f"{path.name}.locks"


class RunLock:
    """A held run lock; :meth:`release` (or the end of the process) lets it go."""

    def __init__(self, path: Path | None = None, fd: int | None = None) -> None:
        self.path = path
        self._fd = fd

    def release(self) -> None:
        """Remove the lock file and let the lock go (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)  # while still held: see RunLocks.acquire
        os.close(fd)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if self._fd is not None:
                os.close(self._fd)


class RunLocks:
    """The run locks of one store."""

    def __init__(self, url: str) -> None:
        self.folder = lock_folder(url)

    def _path(self, run_id: str) -> Path:
        assert self.folder is not None
        return self.folder / f"{run_id.replace('/', '_')}.lock"

    def acquire(self, run_id: str) -> RunLock:
        """Hold ``run_id``'s lock, or raise :class:`StoreError` naming the process that does."""
        if self.folder is None:
            return RunLock()
        assert fcntl is not None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the run lock folder {self.folder}: {exc}") from exc
        path = self._path(run_id)
        for _ in range(200):
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise StoreError(f"cannot create the lock file {path}: {exc}") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                try:
                    # Only readers checking the lock hold it shared, and only for a moment.
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise StoreError(
                        f"run {run_id} is being executed by another process ({holder}); "
                        "wait for it to finish, or stop it first"
                    ) from None
                os.close(fd)
                time.sleep(0.005)
                continue
            # A holder unlinks the file before letting go: if this file is no longer the one
            # at ``path``, the lock just taken is on a dead file. Start again.
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
            opened = os.fstat(fd)
            if current is None or (current.st_ino, current.st_dev) != (
                opened.st_ino,
                opened.st_dev,
            ):
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
            return RunLock(path, fd)
        raise StoreError(f"could not take the lock of run {run_id} ({path})")

    def held(self, run_id: str) -> bool | None:
        """Whether a live process holds ``run_id``'s lock (``None``: this store has no locks)."""
        if self.folder is None:
            return None
        assert fcntl is not None
        try:
            fd = os.open(self._path(run_id), os.O_RDONLY)
        except FileNotFoundError:
            return False
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # also lets a shared lock go
        return False


def run_locks(url: str, engine: Engine) -> RunLocks:
    """The run locks of the store at ``url`` (opened as ``engine``)."""
    if engine.dialect.name == "postgresql":
        from redline.store.pg_locks import AdvisoryRunLocks

        return AdvisoryRunLocks(engine)
    return RunLocks(url)


def _read_holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        if text:
            return text
    return "process unknown"
