"""Initial tables: runs, attempts, calls, verdicts.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None

SEED = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the four tables where missing (``verdicts`` as it was: 0002 and 0004 add to it)."""
    op.create_table(
        "runs",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("name", sa.String),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("config_json", sa.Text, nullable=False),
        sa.Column("target_json", sa.Text, nullable=False),
        sa.Column("judges_json", sa.Text, nullable=False),
        sa.Column("seed", SEED, nullable=False),
        sa.Column("plan_size", sa.Integer, nullable=False),
        sa.Column("redline_version", sa.String, nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "attempts",
        sa.Column("run_id", sa.String, nullable=False),
        sa.Column("id", sa.String, nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("behavior_id", sa.String, nullable=False),
        sa.Column("category", sa.String, nullable=False),
        sa.Column("benign", sa.Boolean, nullable=False),
        sa.Column("attack", sa.String, nullable=False),
        sa.Column("repeat", sa.Integer, nullable=False),
        sa.Column("seed", SEED, nullable=False),
        sa.Column("transcript_json", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("target_calls", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "id"),
        sqlite_with_rowid=False,
        if_not_exists=True,
    )
    op.create_table(
        "calls",
        sa.Column("run_id", sa.String, nullable=False),
        sa.Column("attempt_id", sa.String, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("role", sa.String, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("latency_s", sa.Float, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "attempt_id", "seq"),
        sqlite_with_rowid=False,
        if_not_exists=True,
    )
    op.create_table(
        "verdicts",
        sa.Column("run_id", sa.String, nullable=False),
        sa.Column("attempt_id", sa.String, nullable=False),
        sa.Column("judge", sa.String, nullable=False),
        sa.Column("outcome", sa.String, nullable=False),
        sa.Column("refused", sa.Boolean),
        sa.Column("score", sa.Float),
        sa.Column("rationale", sa.Text, nullable=False),
        sa.Column("raw", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "attempt_id", "judge"),
        sqlite_with_rowid=False,
        if_not_exists=True,
    )


def downgrade() -> None:
    """Drop the four tables."""
    for table in ("verdicts", "calls", "attempts", "runs"):
        op.drop_table(table)
