"""The store's schema migrations, run by Alembic on SQLite and PostgreSQL alike.

Each change to the tables is one file in ``versions/`` (``v0001_initial_tables.py``, ...),
numbered in order; ``alembic_version`` records the one a database is at. The configuration is
built here in code: users need no ``alembic.ini``, and :meth:`redline.store.Store.migrate`
(every open of a store) calls :func:`upgrade`.

- **Older stores.** redline recorded its numbered migrations 1 to 6 in ``schema_migrations``
  before it used Alembic. A store that has that table and no ``alembic_version`` is *adopted*:
  stamped at the revision of the last migration it had (``0006`` for 6), then upgraded from
  there. ``schema_migrations`` is left as it was.
- **Several processes at once.** On PostgreSQL the upgrade holds a transaction-level advisory
  lock, so two scans opening a new database together do not both create its tables: the
  second waits, then finds the database up to date.
- **Fast when nothing is to do.** The revision a database is at is read with one query and
  compared with the head (the last file's number); Alembic is imported and run only when they
  differ.

A new migration: a new file in ``versions/`` with the next number as ``revision`` and the last
one as ``down_revision``, and the same change to :mod:`redline.store.schema`; it must work on
both dialects (``tests/test_migrations.py`` runs every migration on each).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection

from redline.store import schema

if TYPE_CHECKING:
    from alembic.config import Config

FOLDER = Path(__file__).parent

LOCK_KEY = 0x7265646C696E65  # "redline": the advisory lock that serializes upgrades (PostgreSQL)


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for redline's migrations, on ``connection`` when given."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(FOLDER))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head() -> str:
    """The revision of the newest migration: the number of the last file in ``versions/``.

    Read from the file names, so that opening an up-to-date store never imports Alembic (a
    test checks that Alembic's own reading of the folder agrees).
    """
    numbers = [
        found.group(1)
        for path in (FOLDER / "versions").glob("v*.py")
        if (found := re.match(r"v(\d{4})_", path.name))
    ]
    return max(numbers)


def current(connection: Connection) -> str | None:
    """The revision the database is at (``None``: not under Alembic yet)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.scalar(text("SELECT version_num FROM alembic_version"))


def legacy_revision(connection: Connection) -> str | None:
    """The revision an older store's ``schema_migrations`` stands for (``None``: it has none).

    The last of the migrations it had in an unbroken run from 1, as ``0001``..``0006``.
    """
    if not inspect(connection).has_table(schema.schema_migrations.name):
        return None
    applied = set(connection.scalars(select(schema.schema_migrations.c.version)))
    last = 0
    while last + 1 in applied:
        last += 1
    return f"{last:04d}" if last else None


def upgrade(connection: Connection) -> None:
    """Bring the database on ``connection`` to the newest revision (inside its transaction)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    at = current(connection)
    if at == head():
        return
    from alembic import command

    config = alembic_config(connection)
    if at is None:
        adopted = legacy_revision(connection)
        if adopted is not None:
            command.stamp(config, adopted)
    command.upgrade(config, "head")
