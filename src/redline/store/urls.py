"""What ``--db`` accepts: a SQLite file path or a database URL, and how a URL is shown.

A PostgreSQL URL as people write it (``postgresql://user@host/db``, or Heroku's
``postgres://``) names no driver; SQLAlchemy would pick psycopg2. redline speaks psycopg 3
(the ``postgres`` extra), so such a URL is given that driver. A URL that names a driver keeps it.

A URL's password is never shown: :func:`shown_url` is the form for messages and hints. The
password is best left out of the URL altogether: libpq (under psycopg) reads it from
``PGPASSWORD`` or ``~/.pgpass`` (see docs/team.md).
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DB = Path(".redline") / "redline.db"

_BARE_POSTGRES = re.compile(r"^postgres(?:ql)?://", re.IGNORECASE)


def is_url(db: str | Path | None) -> bool:
    """Whether a ``--db`` value is a URL rather than a SQLite file path."""
    return db is not None and "://" in str(db)


def normalize_url(url: str) -> str:
    """``url`` with the psycopg 3 driver when it is a PostgreSQL URL that names none."""
    return _BARE_POSTGRES.sub("postgresql+psycopg://", url, count=1)


def database_url(db: str | Path | None) -> str:
    """Turn a ``--db`` value (a path or a SQLAlchemy URL) into a URL; create parent folders."""
    if db is not None and is_url(db):
        return normalize_url(str(db))
    path = Path(db) if db is not None else DEFAULT_DB
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def shown_url(url: str | Path) -> str:
    """``url`` as it may be shown to people and written to logs: its password hidden."""
    text = str(url)
    if not is_url(text):
        return text
    try:
        return make_url(text).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"//[^/@\s]*@", "//***@", text)
