"""human_labels: people's labels of stored replies.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``human_labels`` (append-only) and its index by run and attempt."""
    op.create_table(
        "human_labels",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String, nullable=False),
        sa.Column("attempt_id", sa.String, nullable=False),
        sa.Column("labeller", sa.String, nullable=False),
        sa.Column("refusal", sa.String),
        sa.Column("harm", sa.String),
        sa.Column("note", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        if_not_exists=True,
    )
    op.create_index(
        "ix_human_labels_run_attempt", "human_labels", ["run_id", "attempt_id"], if_not_exists=True
    )


def downgrade() -> None:
    """Drop ``human_labels``."""
    op.drop_table("human_labels")
