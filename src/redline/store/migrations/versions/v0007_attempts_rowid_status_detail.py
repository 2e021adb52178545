"""attempts as a rowid table on SQLite; runs.status_detail.

On SQLite ``attempts`` was ``WITHOUT ROWID``: the table was the B-tree of its key. Attempt ids
are random, so each new row (a whole transcript, often spilling onto overflow pages) went to a
random place of that tree, splitting and rewriting wide pages. As a rowid table its rows are
appended in insertion order and only the narrow key index, ``(run_id, id)``, takes inserts at
random places: the writer spends less CPU per attempt and the file is smaller. The primary key
stays ``(run_id, id)`` (on a rowid table SQLite keeps it as a unique index), so a duplicate is
refused as before. PostgreSQL's heap tables were never ordered by key: nothing changes there.

The web indexes of migration 0006 on ``attempts`` end with ``id`` (both dialects; see
:data:`NEW_INDEXES`). ``runs.status_detail`` (both dialects): why a run has its status, in
words, when there is more to say (the budget that stopped it); ``NULL`` otherwise.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SEED = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

COLUMNS = (
    "run_id", "id", "idx", "behavior_id", "category", "benign", "attack", "repeat", "seed",
    "transcript_json", "error", "target_calls", "started_at", "ended_at",
)  # fmt: skip

OLD_INDEXES = {  # migration 0006's indexes on attempts
    "ix_attempts_plan": [
        "run_id", "idx", "category", "attack", "benign", "target_calls", "started_at",
        "ended_at",
    ],
    "ix_attempts_facets": ["run_id", "category", "attack"],
}  # fmt: skip
NEW_INDEXES = {name: [*columns, "id"] for name, columns in OLD_INDEXES.items()}
"""The same, ending with ``id``: a WITHOUT ROWID table's indexes hold its key implicitly, a
rowid table's only its rowid, and the explorer's pages of ids and the figures' facets read
``id`` from these indexes alone (without it, a page sorted by score took 4 times as long on
100,000 attempts). Made on PostgreSQL too, where the schema is the same."""


def _create_attempts(name: str, *, with_rowid: bool) -> None:
    op.create_table(
        name,
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
        sqlite_with_rowid=with_rowid,
    )


def _rebuild_attempts(*, with_rowid: bool) -> None:
    """SQLite: make ``attempts`` again, with or without rowid, its rows kept.

    Its indexes go with the old table (:func:`_index_attempts` makes them again). Nothing is
    done when the table is already of that kind.
    """
    created = op.get_bind().scalar(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'attempts'")
    )
    if ("WITHOUT ROWID" not in created.upper()) == with_rowid:
        return
    _create_attempts("attempts_new", with_rowid=with_rowid)
    columns = ", ".join(f'"{c}"' for c in COLUMNS)
    # in plan order: the rows of a run lie together, as the writer appends them
    op.execute(
        f"INSERT INTO attempts_new ({columns}) SELECT {columns} FROM attempts ORDER BY run_id, idx"
    )
    op.drop_table("attempts")  # its indexes with it
    op.rename_table("attempts_new", "attempts")


def _index_attempts(indexes: dict[str, list[str]]) -> None:
    for name in indexes:
        op.drop_index(name, table_name="attempts", if_exists=True)
    for name, columns in indexes.items():
        op.create_index(name, "attempts", columns)


def upgrade() -> None:
    """Add ``runs.status_detail``, rebuild ``attempts`` (SQLite), end its indexes with ``id``.

    A table missing from a partial store made by hand is left alone.
    """
    bind = op.get_bind()
    present = set(sa.inspect(bind).get_table_names())
    if "runs" in present:
        op.add_column("runs", sa.Column("status_detail", sa.Text))
    if "attempts" in present:
        if bind.dialect.name == "sqlite":
            _rebuild_attempts(with_rowid=True)
        _index_attempts(NEW_INDEXES)


def downgrade() -> None:
    """Drop ``runs.status_detail``; ``attempts`` and its indexes as migration 0006 left them."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _rebuild_attempts(with_rowid=False)
    _index_attempts(OLD_INDEXES)
    op.drop_column("runs", "status_detail")
