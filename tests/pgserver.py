"""A throwaway PostgreSQL server for the tests: initdb into a temporary folder, started on
127.0.0.1 on a free port (its unix socket in that folder too), stopped and removed at the end.

The binaries are looked for in ``REDLINE_TEST_PG_BIN`` when set, else under
``/usr/lib/postgresql/*/bin`` (Debian's ``postgresql`` package; ``.ci/run`` installs it), then
on ``PATH``. PostgreSQL refuses to run as root: as root
the server runs as the ``postgres`` user (which the package creates), its folder chowned to it.
Durability is off (``fsync``, ``synchronous_commit``): a test server loses nothing it needs.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

USER = "redline"
"""The database superuser the server is created with (trust authentication, local only)."""


def binaries() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl`` (the newest installed version), or ``None``.

    ``REDLINE_TEST_PG_BIN`` names the folder instead (PostgreSQL installed elsewhere); a folder
    without ``initdb`` there means none.
    """
    chosen = os.environ.get("REDLINE_TEST_PG_BIN")
    if chosen:
        return Path(chosen) if (Path(chosen) / "initdb").is_file() else None
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One running server; :meth:`new_database` gives each test a database of its own."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.folder = Path(tempfile.mkdtemp(prefix="redline-pg-"))
        self.port = _free_port()
        self._names = itertools.count()
        self._as: list[str] = []
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(
                    "PostgreSQL cannot run as root and there is no 'postgres' user to run it as "
                    "(install Debian's postgresql package, which creates it)"
                ) from None
            shutil.chown(self.folder, "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            [*self._as, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({result.returncode}): "
                f"{result.stdout[-1000:]}{result.stderr[-2000:]}\n{tail}"
            )

    def start(self, durable: bool = False) -> None:
        """initdb and start; raises RuntimeError with the server's own words on failure.

        ``durable`` keeps ``fsync`` on (commits still not flushed one by one: like SQLite's
        WAL with ``synchronous=NORMAL``), for measurements.
        """
        data = self.folder / "data"
        self._run(
            str(self.bin_dir / "initdb"), "-D", str(data), "-U", USER, "-A", "trust",
            "-E", "UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c synchronous_commit=off "
            "-c max_connections=200"
        )
        if not durable:
            options += " -c fsync=off -c full_page_writes=off"
        self._run(
            str(self.bin_dir / "pg_ctl"), "-D", str(data), "-o", options,
            "-l", str(self.folder / "server.log"), "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server (immediately) and remove its folder."""
        with contextlib.suppress(Exception):
            self._run(
                str(self.bin_dir / "pg_ctl"), "-D", str(self.folder / "data"),
                "-m", "immediate", "-w", "stop",
            )  # fmt: skip
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """The URL of ``database``, as a user would write it (redline adds the driver)."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=USER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def new_database(self) -> str:
        """A new, empty database; returns its URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        self._admin(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database of ``url``, disconnecting whoever is still on it."""
        name = url.rsplit("/", 1)[1]
        with contextlib.suppress(Exception):
            self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
