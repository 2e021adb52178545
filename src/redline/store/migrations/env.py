"""Alembic's environment for redline's store: run on the connection :func:`upgrade` hands over.

There is no ``alembic.ini``: :func:`redline.store.migrations.alembic_config` builds the
configuration in code and puts the open connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from redline.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached by a hand-run `alembic` command
    raise RuntimeError(
        "redline's migrations run through redline.store.Store.migrate (or "
        "redline.store.migrations.upgrade), which hands Alembic an open connection"
    )
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
