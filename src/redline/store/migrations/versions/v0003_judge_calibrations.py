"""judge_calibrations: measured judge error for corrected rates.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``judge_calibrations``."""
    op.create_table(
        "judge_calibrations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("judge", sa.String, nullable=False),
        sa.Column("judge_version", sa.String),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("sensitivity", sa.Float, nullable=False),
        sa.Column("specificity", sa.Float, nullable=False),
        sa.Column("true_positives", sa.Integer, nullable=False),
        sa.Column("positives", sa.Integer, nullable=False),
        sa.Column("true_negatives", sa.Integer, nullable=False),
        sa.Column("negatives", sa.Integer, nullable=False),
        sa.Column("errors", sa.Integer, nullable=False),
        sa.Column("data_name", sa.String, nullable=False),
        sa.Column("data_sha256", sa.String, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("redline_version", sa.String, nullable=False),
        if_not_exists=True,
    )


def downgrade() -> None:
    """Drop ``judge_calibrations``."""
    op.drop_table("judge_calibrations")
