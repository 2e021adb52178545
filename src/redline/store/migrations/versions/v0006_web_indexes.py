"""Indexes for the web app: attempts in plan order, verdicts by judge.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEXES = {
    # covering for the explorer's filters, counts and pages in plan order, and for the figures
    "ix_attempts_plan": (
        "attempts",
        ["run_id", "idx", "category", "attack", "benign", "target_calls", "started_at",
         "ended_at"],
    ),
    "ix_attempts_facets": ("attempts", ["run_id", "category", "attack"]),
    # a run's judges, the figures of one judge, the explorer's verdict filters
    "ix_verdicts_judge": (
        "verdicts", ["run_id", "judge", "outcome", "refused", "partial", "score"]
    ),
}  # fmt: skip


def upgrade() -> None:
    """Create the indexes (a table missing from a partial store made by hand: skipped)."""
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for name, (table, columns) in INDEXES.items():
        if table in present:
            op.create_index(name, table, columns, if_not_exists=True)


def downgrade() -> None:
    """Drop the indexes."""
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table, if_exists=True)
