"""components: canonical specs; verdicts.judge_spec_sha256.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``components``; add ``verdicts.judge_spec_sha256`` where it is missing."""
    op.create_table(
        "components",
        sa.Column("run_id", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("label", sa.String, nullable=False),
        sa.Column("spec_json", sa.Text, nullable=False),
        sa.Column("spec_sha256", sa.String, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "kind", "label", "spec_sha256"),
        sqlite_with_rowid=False,
        if_not_exists=True,
    )
    columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("verdicts")}
    if "judge_spec_sha256" not in columns:
        op.add_column("verdicts", sa.Column("judge_spec_sha256", sa.String))


def downgrade() -> None:
    """Drop ``components`` and ``verdicts.judge_spec_sha256``."""
    with op.batch_alter_table("verdicts") as batch:
        batch.drop_column("judge_spec_sha256")
    op.drop_table("components")
