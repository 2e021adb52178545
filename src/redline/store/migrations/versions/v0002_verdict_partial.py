"""verdicts.partial: partial refusals.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``verdicts.partial`` (stores made by redline's own first migration may have it)."""
    if "partial" not in _columns("verdicts"):
        op.add_column("verdicts", sa.Column("partial", sa.Boolean))


def downgrade() -> None:
    """Drop ``verdicts.partial``."""
    with op.batch_alter_table("verdicts") as batch:
        batch.drop_column("partial")


def _columns(table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(op.get_bind()).get_columns(table)}
