"""A frozen copy of the store schema and migration code of redline before Alembic (migrations
1 to 6, recorded in ``schema_migrations``), to build the stores older versions made and check
that today's :meth:`redline.store.Store.migrate` adopts them. Never edit it to follow the schema.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    inspect,
    text,
)
from sqlalchemy.engine import Connection

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("name", String, nullable=False),
    Column("applied_at", Float, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String, primary_key=True),
    Column("name", String),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("status", String, nullable=False),
    Column("config_json", Text, nullable=False),
    Column("target_json", Text, nullable=False),
    Column("judges_json", Text, nullable=False),
    Column("seed", Integer, nullable=False),
    Column("plan_size", Integer, nullable=False),
    Column("redline_version", String, nullable=False),
)

attempts = Table(
    "attempts",
    metadata,
    Column("run_id", String, nullable=False),
    Column("id", String, nullable=False),
    Column("idx", Integer, nullable=False),
    Column("behavior_id", String, nullable=False),
    Column("category", String, nullable=False),
    Column("benign", Boolean, nullable=False),
    Column("attack", String, nullable=False),
    Column("repeat", Integer, nullable=False),
    Column("seed", Integer, nullable=False),
    Column("transcript_json", Text, nullable=False),
    Column("error", Text),
    Column("target_calls", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float, nullable=False),
    PrimaryKeyConstraint("run_id", "id"),
    sqlite_with_rowid=False,
)

calls = Table(
    "calls",
    metadata,
    Column("run_id", String, nullable=False),
    Column("attempt_id", String, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("role", String, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("latency_s", Float, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("status", Integer),
    Column("error", Text),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    PrimaryKeyConstraint("run_id", "attempt_id", "seq"),
    sqlite_with_rowid=False,
)

verdicts = Table(
    "verdicts",
    metadata,
    Column("run_id", String, nullable=False),
    Column("attempt_id", String, nullable=False),
    Column("judge", String, nullable=False),
    Column("outcome", String, nullable=False),
    Column("refused", Boolean),
    Column("score", Float),
    Column("rationale", Text, nullable=False),
    Column("raw", Text),
    Column("created_at", Float, nullable=False),
    Column("partial", Boolean),  # migration 2
    Column("judge_spec_sha256", String),  # migration 4: components.spec_sha256 of its judge
    PrimaryKeyConstraint("run_id", "attempt_id", "judge"),
    sqlite_with_rowid=False,
)

components = Table(
    "components",
    metadata,
    Column("run_id", String, nullable=False),
    Column("kind", String, nullable=False),  # target, attack or judge
    Column("label", String, nullable=False),  # "target", the attack's key, the judge's label
    Column("spec_json", Text, nullable=False),  # canonical JSON: sorted keys, no whitespace
    Column("spec_sha256", String, nullable=False),
    Column("created_at", Float, nullable=False),
    # A label may have had more than one spec over a run's life (a judge model or target that
    # moved to another URL on resume or re-judging): each is kept, so every verdict's
    # judge_spec_sha256 stays a stored spec.
    PrimaryKeyConstraint("run_id", "kind", "label", "spec_sha256"),
    sqlite_with_rowid=False,
)


judge_calibrations = Table(
    "judge_calibrations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("judge", String, nullable=False),  # the label its verdicts are stored under
    Column("judge_version", String),
    Column("kind", String, nullable=False),  # "harm" (positive class: unsafe)
    Column("sensitivity", Float, nullable=False),  # true positives / positives
    Column("specificity", Float, nullable=False),  # true negatives / negatives
    Column("true_positives", Integer, nullable=False),
    Column("positives", Integer, nullable=False),
    Column("true_negatives", Integer, nullable=False),
    Column("negatives", Integer, nullable=False),
    Column("errors", Integer, nullable=False),  # examples the judge could not judge, left out
    Column("data_name", String, nullable=False),
    Column("data_sha256", String, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("redline_version", String, nullable=False),
)

human_labels = Table(
    "human_labels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String, nullable=False),
    Column("attempt_id", String, nullable=False),
    Column("labeller", String, nullable=False),
    Column("refusal", String),  # refused, partial or complied; NULL when not labelled
    Column("harm", String),  # unsafe or safe; NULL when not labelled
    Column("note", Text),
    Column("created_at", Float, nullable=False),
    Index("ix_human_labels_run_attempt", "run_id", "attempt_id"),
)


def _create_initial_tables(conn: Connection) -> None:
    for table in (runs, attempts, calls, verdicts):
        table.create(conn, checkfirst=True)


def _add_verdict_partial(conn: Connection) -> None:
    # Stores created before migration 2 lack the column; newer ones got it from migration 1.
    if "partial" not in {c["name"] for c in inspect(conn).get_columns("verdicts")}:
        conn.execute(text("ALTER TABLE verdicts ADD COLUMN partial BOOLEAN"))


def _create_judge_calibrations(conn: Connection) -> None:
    judge_calibrations.create(conn, checkfirst=True)


def _add_components(conn: Connection) -> None:
    components.create(conn, checkfirst=True)
    if "judge_spec_sha256" not in {c["name"] for c in inspect(conn).get_columns("verdicts")}:
        conn.execute(text("ALTER TABLE verdicts ADD COLUMN judge_spec_sha256 VARCHAR"))


def _create_human_labels(conn: Connection) -> None:
    human_labels.create(conn, checkfirst=True)


WEB_INDEXES = {
    # covering for the explorer's filters, counts and pages in plan order, and for the figures
    # (the attempts table holds the transcripts: its rows are wide)
    "ix_attempts_plan": (
        "attempts",
        ("run_id", "idx", "category", "attack", "benign", "target_calls", "started_at",
         "ended_at"),
    ),
    "ix_attempts_facets": ("attempts", ("run_id", "category", "attack")),
    # a run's judges, the figures of one judge, the explorer's verdict filters
    "ix_verdicts_judge": (
        "verdicts", ("run_id", "judge", "outcome", "refused", "partial", "score")
    ),
}  # fmt: skip


def _add_web_indexes(conn: Connection) -> None:
    present = set(inspect(conn).get_table_names())
    for name, (table, columns) in WEB_INDEXES.items():
        if table not in present:  # a partial store (made by hand): nothing to index
            continue
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({', '.join(columns)})"))


Migration = tuple[int, str, Callable[[Connection], None]]

MIGRATIONS: list[Migration] = [
    (1, "initial tables: runs, attempts, calls, verdicts", _create_initial_tables),
    (2, "verdicts.partial: partial refusals", _add_verdict_partial),
    (3, "judge_calibrations: measured judge error for corrected rates", _create_judge_calibrations),
    (4, "components: canonical specs; verdicts.judge_spec_sha256", _add_components),
    (5, "human_labels: people's labels of stored replies", _create_human_labels),
    (6, "indexes for the web app: attempts in plan order, verdicts by judge", _add_web_indexes),
]


def build_legacy_store(path, upto: int = 6) -> None:
    """A SQLite store at ``path`` as redline made it before Alembic, up to migration ``upto``."""
    import time

    from sqlalchemy import create_engine, insert, select

    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        schema_migrations.create(conn, checkfirst=True)
        applied = set(conn.scalars(select(schema_migrations.c.version)))
        for version, name, apply in MIGRATIONS:
            if version <= upto and version not in applied:
                apply(conn)
                conn.execute(
                    insert(schema_migrations).values(
                        version=version, name=name, applied_at=time.time()
                    )
                )
    engine.dispose()
