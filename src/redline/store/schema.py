"""The results database: tables and numbered migrations (SQLAlchemy Core).

Tables: ``runs`` (one per campaign), ``attempts`` (one per finished attempt, with the full
transcript), ``calls`` (every request to a target, attacker or judge model) and ``verdicts``
(one row per judge per attempt, so re-judging adds rows); ``judge_calibrations`` (a judge's
measured sensitivity and specificity against human harm labels, from ``redline judges eval
--save``, used to correct the attack success rates it reports). On SQLite ``calls``, ``verdicts``
and ``components`` are ``WITHOUT ROWID``: the key is the table, so a write updates one B-tree,
not two. ``attempts`` is a rowid table (migration 7; ``WITHOUT ROWID`` before): attempt ids are
random, and inserting its wide rows (transcripts) at random places of a key-ordered table cost
the writer about 40% more CPU than appending them, with only the narrow key, a unique index on
``(run_id, id)``, taking inserts at random places. ``runs.status_detail`` (migration 7) says
why a run has its status when there is more to say (the budget that stopped it).
``components`` (the canonical spec of every target, attack and judge a run used, from
:func:`redline.registry.build`, keyed by run, kind, label and spec hash; every verdict carries
the SHA-256 of the spec of the judge that made it in ``verdicts.judge_spec_sha256``).
``human_labels`` (migration 5): people's labels of stored replies, from the web app, append-only
(the current label of an attempt by a labeller is that labeller's latest row).
The tables are made and changed by the Alembic migrations in :mod:`redline.store.migrations`
(one file per numbered change, for SQLite and PostgreSQL alike); ``alembic_version`` records the
one a database is at. ``schema_migrations`` is the record of the numbered migrations redline
made before it used Alembic (1 to 6): a store that has it is adopted at its last one.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
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
)

metadata = MetaData()

SEED = BigInteger().with_variant(Integer(), "sqlite")
"""Seeds are signed 64-bit integers; SQLite's INTEGER is 64-bit already (and stays as it was)."""

schema_migrations = Table(  # before Alembic: read to adopt an older store, never written
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
    Column("seed", SEED, nullable=False),
    Column("plan_size", Integer, nullable=False),
    Column("redline_version", String, nullable=False),
    Column("status_detail", Text),  # migration 7: e.g. the budget that stopped the run
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
    Column("seed", SEED, nullable=False),
    Column("transcript_json", Text, nullable=False),
    Column("error", Text),
    Column("target_calls", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float, nullable=False),
    # a rowid table on SQLite (see above): the primary key is a unique index there
    PrimaryKeyConstraint("run_id", "id"),
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


WEB_INDEXES = {
    # covering for the explorer's filters, counts and pages in plan order, and for the figures
    # (the attempts table holds the transcripts: its rows are wide); ``id`` last (migration 7):
    # on a WITHOUT ROWID table SQLite put the key in every index, on a rowid table it must be
    # named for the explorer's pages of ids and the figures to stay index-only
    "ix_attempts_plan": (
        "attempts",
        ("run_id", "idx", "category", "attack", "benign", "target_calls", "started_at",
         "ended_at", "id"),
    ),
    "ix_attempts_facets": ("attempts", ("run_id", "category", "attack", "id")),
    # a run's judges, the figures of one judge, the explorer's verdict filters
    "ix_verdicts_judge": (
        "verdicts", ("run_id", "judge", "outcome", "refused", "partial", "score")
    ),
}  # fmt: skip
"""The indexes of migration 0006 (those on attempts as migration 0007 made them again), by
name: (table, columns)."""

for _name, (_table, _columns) in WEB_INDEXES.items():
    Index(_name, *(metadata.tables[_table].c[column] for column in _columns))
