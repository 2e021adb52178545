"""The results store: SQLite by default (WAL mode), or PostgreSQL for a team (psycopg 3).

``--db`` takes a SQLite file path or a database URL (:mod:`redline.store.urls`); the schema is
the same on both, made by the Alembic migrations of :mod:`redline.store.migrations`.

Reads happen on the caller's thread; writes during a run go through one :class:`Writer` thread
that batches finished attempts (attempt, its calls and its verdicts in one transaction), so an
attempt is either fully stored or not at all.

Every row passes through the store's :class:`~redline.store.sanitize.Sanitizer` on its way in:
text is made storable (lone surrogates) and the run's secrets are redacted, whatever wrote it.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Select,
    Table,
    case,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    InterfaceError,
    InternalError,
    OperationalError,
    SQLAlchemyError,
)

from redline.errors import StoreError
from redline.model import AttemptResult, CallRecord, Verdict
from redline.store import migrations, schema
from redline.store.locks import RunLock, RunLocks, run_locks
from redline.store.records import OutcomeRow, StoredAttempt
from redline.store.sanitize import Sanitizer
from redline.store.urls import DEFAULT_DB, database_url, shown_url

__all__ = [
    "DEFAULT_DB",
    "RunLock",
    "RunLocks",
    "Store",
    "Writer",
    "database_url",
    "fetch_rows",
    "shown_url",
]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# Row builders return tuples in the column order of their table in ``schema`` (checked by
# ``Store.bulk_insert``): the writer is on the hot path, and dicts per row cost measurably.
# Every text that may hold what a model sent, or a secret, goes through ``clean``.


def verdict_row(
    run_id: str,
    attempt_id: str,
    verdict: Verdict,
    now: float,
    clean: Sanitizer,
    judge_spec_sha256: str | None = None,
) -> tuple:
    """A ``verdicts`` row; ``judge_spec_sha256`` names the stored spec of the judge that made it."""
    return (
        run_id,
        attempt_id,
        clean.text(verdict.judge),
        verdict.outcome.value,
        verdict.refused,
        verdict.score,
        clean.text(verdict.rationale),
        clean.text(verdict.raw),
        now,
        verdict.partial,
        judge_spec_sha256,
    )


def call_row(run_id: str, attempt_id: str, seq: int, call: CallRecord, clean: Sanitizer) -> tuple:
    """A ``calls`` row."""
    return (
        run_id,
        attempt_id,
        seq,
        call.role,
        call.started_at,
        call.latency_s,
        call.ok,
        call.status,
        clean.text(call.error),
        call.usage.prompt_tokens,
        call.usage.completion_tokens,
    )


def attempt_rows(
    run_id: str,
    result: AttemptResult,
    clean: Sanitizer,
    judge_specs: dict[str, str] | None = None,
) -> tuple[tuple, list[tuple], list[tuple]]:
    """The rows one finished attempt becomes: attempt, calls, verdicts.

    ``judge_specs`` maps judge labels to the SHA-256 of their stored spec (``components``).
    """
    specs = judge_specs or {}
    planned, transcript, behavior = result.planned, result.transcript, result.planned.behavior
    document: dict[str, Any] = {
        "messages": [m.to_dict() for m in transcript.messages],
        "goal": behavior.goal,
    }
    if transcript.meta:
        document["meta"] = transcript.meta
    if transcript.tool_calls:
        document["tool_calls"] = [call.to_dict() for call in transcript.tool_calls]
    if behavior.scenario is not None:
        document["scenario"] = behavior.scenario
    calls = transcript.calls
    attempt = (
        run_id,
        planned.id,
        planned.index,
        clean.text(behavior.id),
        clean.text(behavior.category),
        behavior.benign,
        clean.text(planned.attack_key),
        planned.repeat,
        planned.seed,
        clean.json(document),
        clean.text(transcript.error),
        sum(1 for call in calls if call.role == "target"),
        result.started_at,
        result.ended_at,
    )
    call_rows = [call_row(run_id, planned.id, seq, call, clean) for seq, call in enumerate(calls)]
    verdict_rows = [
        verdict_row(run_id, planned.id, v, result.ended_at, clean, specs.get(v.judge))
        for v in result.verdicts
    ]
    return attempt, call_rows, verdict_rows


def fetch_rows(conn: Connection, query: Select[Any]) -> list[Any]:
    """The rows of ``query`` straight from the database driver (plain tuples, raw values).

    SQLAlchemy's result processing costs several times the query itself on 100,000 rows;
    booleans come back as the driver gives them (0/1 on SQLite). Not for queries with
    expanding parameters (``in_``).
    """
    return list(stream_rows(conn, query))


def stream_rows(conn: Connection, query: Select[Any]) -> Iterator[tuple[Any, ...]]:
    """:func:`fetch_rows` as a stream, read from the cursor as it is iterated.

    A run's transcripts are never all in memory at once. No expanding parameters.
    """
    compiled = query.compile(dialect=conn.dialect)
    params = compiled.construct_params()
    args: Any = (
        tuple(params[name] for name in compiled.positiontup or ())
        if compiled.positional
        else params
    )
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), args)
        while rows := cursor.fetchmany(1000):
            yield from rows
    finally:
        cursor.close()


class Store:
    """Access to one results database."""

    def __init__(self, db: str | Path | None = None) -> None:
        self.url = database_url(db)
        self.shown_url = shown_url(self.url)
        """The URL as messages show it: its password hidden."""
        self._insert_sql: dict[str, tuple[str, tuple[str, ...] | None]] = {}
        try:
            # hide_parameters: an error message never carries the rows (prompts, replies)
            self.engine: Engine = create_engine(self.url, hide_parameters=True)
        except ImportError as exc:  # a URL whose driver is not installed
            raise StoreError(f"cannot open the results store {self.shown_url}: {exc}") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the results store {self.shown_url}: {exc}") from exc
        self.dialect = self.engine.dialect.name
        """``sqlite``, ``postgresql``, ..."""
        # PostgreSQL text cannot hold NUL characters; SQLite keeps them
        self.sanitizer = Sanitizer(nul_allowed=self.dialect != "postgresql")
        """Applied to every row written; :meth:`add_secrets` tells it what to redact."""
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            self.migrate()
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise StoreError(
                f"cannot open the results store {self.shown_url}: {_reason(exc)}"
            ) from exc
        self.locks: RunLocks = run_locks(self.url, self.engine)

    def migrate(self) -> None:
        """Bring the database's tables to the newest schema (see :mod:`redline.store.migrations`).

        A new database gets every migration; an older one those it has not had, a store made
        before redline used Alembic included. Safe when several processes open one database.
        """
        with self.engine.begin() as conn:
            migrations.upgrade(conn)

    def add_secrets(self, values: Iterable[str]) -> None:
        """Redact these secret values from everything this store writes from now on."""
        self.sanitizer.add_secrets(values)

    # runs -----------------------------------------------------------------------------------

    def create_run(self, run: dict[str, Any]) -> None:
        """Insert a ``runs`` row (its text columns sanitized: no secret is stored)."""
        now = time.time()
        clean = {k: self.sanitizer.text(v) if isinstance(v, str) else v for k, v in run.items()}
        with self.engine.begin() as conn:
            conn.execute(insert(schema.runs).values(created_at=now, updated_at=now, **clean))

    def add_components(self, run_id: str, components: Iterable[Any]) -> None:
        """Store the canonical spec of each component: ``(label, redline.registry.Built)`` pairs.

        A spec already stored for the run under the same kind and label is not stored again; a
        label whose spec changed (a judge model or target moved to another URL on resume or
        re-judging) gets a second row, so verdicts made under the first still point at it.
        """
        c = schema.components
        now = time.time()
        with self.engine.begin() as conn:
            seen = {
                tuple(row)
                for row in conn.execute(
                    select(c.c.kind, c.c.label, c.c.spec_sha256).where(c.c.run_id == run_id)
                )
            }
            rows = []
            for label, built in components:
                key = (built.kind, self.sanitizer.text(label), built.spec_sha256)
                if key in seen:
                    continue
                seen.add(key)
                rows.append(
                    {
                        "run_id": run_id,
                        "kind": built.kind,
                        "label": key[1],
                        "spec_json": self.sanitizer.text(built.spec_json),
                        "spec_sha256": built.spec_sha256,
                        "created_at": now,
                    }
                )
            if rows:
                conn.execute(insert(c), rows)

    def components(self, run_id: str) -> list[dict[str, Any]]:
        """The stored components of ``run_id``, oldest first within a kind.

        Each as a dict: kind, label, spec_json, spec_sha256, created_at.
        """
        c = schema.components
        with self.engine.connect() as conn:
            query = (
                select(c.c.kind, c.c.label, c.c.spec_json, c.c.spec_sha256, c.c.created_at)
                .where(c.c.run_id == run_id)
                .order_by(c.c.kind, c.c.created_at, c.c.label)
            )
            return [dict(row._mapping) for row in conn.execute(query)]

    def judge_spec_hashes(self, run_id: str) -> dict[str, str]:
        """``{judge label: SHA-256 of its latest stored spec}`` for ``run_id``."""
        return {
            row["label"]: row["spec_sha256"]
            for row in self.components(run_id)
            if row["kind"] == "judge"
        }

    def set_status(self, run_id: str, status: str, detail: str | None = None) -> None:
        """Record a run's status (running, completed, interrupted, budget_exhausted, failed).

        ``detail`` says why, in words (the budget that stopped the run); a status recorded
        without one clears the last (``runs.status_detail``).
        """
        if detail is not None:
            detail = self.sanitizer.text(detail)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(schema.runs)
                    .where(schema.runs.c.id == run_id)
                    .values(status=status, status_detail=detail, updated_at=time.time())
                )
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot record the status of run {run_id}: {_reason(exc)}") from exc

    def lock_run(self, run_id: str) -> RunLock:
        """Hold ``run_id`` for this process while it executes it.

        Raises :class:`StoreError` when another process holds it. See :mod:`redline.store.locks`.
        """
        return self.locks.acquire(run_id)

    def _shown(self, row: dict[str, Any]) -> dict[str, Any]:
        """A ``runs`` row as it is shown.

        ``running`` with no process holding the run is ``interrupted``: its process was killed
        before it could say so.
        """
        if row.get("status") == "running" and self.locks.held(row["id"]) is False:
            row["status"] = "interrupted"
        return row

    def get_run(self, run_id: str) -> dict[str, Any]:
        """The ``runs`` row of ``run_id``; :class:`StoreError` if there is none."""
        with self.engine.connect() as conn:
            row = conn.execute(select(schema.runs).where(schema.runs.c.id == run_id)).first()
            if row is None:
                known = conn.scalars(
                    select(schema.runs.c.id).order_by(schema.runs.c.created_at.desc()).limit(5)
                ).all()
        if row is None:
            hint = f" (recent runs: {', '.join(known)})" if known else " (this store has no runs)"
            raise StoreError(f"no run {run_id!r} in {self.shown_url}{hint}")
        return self._shown(dict(row._mapping))

    def latest_run_id(self) -> str | None:
        """The id of the most recently created run."""
        with self.engine.connect() as conn:
            return conn.scalar(
                select(schema.runs.c.id).order_by(schema.runs.c.created_at.desc()).limit(1)
            )

    def list_runs(self) -> list[dict[str, Any]]:
        """Every run, newest first, with its count of stored attempts."""
        counts = (
            select(schema.attempts.c.run_id, func.count().label("done"))
            .group_by(schema.attempts.c.run_id)
            .subquery()
        )
        query = (
            select(schema.runs, func.coalesce(counts.c.done, 0).label("done"))
            .outerjoin(counts, counts.c.run_id == schema.runs.c.id)
            .order_by(schema.runs.c.created_at.desc())
        )
        with self.engine.connect() as conn:
            return [self._shown(dict(row._mapping)) for row in conn.execute(query)]

    def verdict_judges(self, run_id: str) -> list[str]:
        """The labels of the judges with verdicts in ``run_id``, its configured judges first.

        Configured judges in their order, then the others (re-judged ones) sorted.
        """
        v = schema.verdicts
        with self.engine.connect() as conn:
            stored = set(conn.scalars(select(v.c.judge).where(v.c.run_id == run_id).distinct()))
        configured = json.loads(self.get_run(run_id)["judges_json"])
        return [j for j in configured if j in stored] + sorted(stored - set(configured))

    def resolve_judge(self, run_id: str, requested: str | None) -> str | None:
        """The judge label ``requested`` means in ``run_id`` (its first judge when not given).

        ``None`` when the run has no verdicts yet; :class:`StoreError` naming the run's judges
        for one it has no verdicts of; :class:`~redline.errors.ConfigError` for an ambiguous
        name (see :func:`redline.config.match_judge_label`).
        """
        from redline.config import match_judge_label

        judges = self.verdict_judges(run_id)
        if not judges:
            return None
        if not requested:
            return judges[0]
        matched = match_judge_label(requested, judges)
        if matched not in judges:
            raise StoreError(
                f"run {run_id} has no verdicts from judge {requested!r} (has: {', '.join(judges)})"
            )
        return matched

    # attempts -------------------------------------------------------------------------------

    def done_attempt_ids(self, run_id: str) -> set[str]:
        """Ids of attempts already stored for ``run_id``."""
        with self.engine.connect() as conn:
            return set(
                conn.scalars(select(schema.attempts.c.id).where(schema.attempts.c.run_id == run_id))
            )

    def target_calls_used(self, run_id: str) -> int:
        """Target calls made by the stored attempts of ``run_id`` (retries included)."""
        with self.engine.connect() as conn:
            used = conn.scalar(
                select(func.coalesce(func.sum(schema.attempts.c.target_calls), 0)).where(
                    schema.attempts.c.run_id == run_id
                )
            )
        return int(used or 0)

    def outcomes(self, run_id: str, judge: str | None = None) -> list[OutcomeRow]:
        """One :class:`~redline.store.records.OutcomeRow` per stored attempt and judge.

        In plan order; only ``judge``'s verdicts when it is given.
        """
        a, v = schema.attempts, schema.verdicts
        query = (
            select(
                a.c.id,
                a.c.category,
                a.c.attack,
                a.c.benign,
                a.c.target_calls,
                v.c.judge,
                v.c.outcome,
                v.c.refused,
                v.c.partial,
            )
            .join(v, (v.c.run_id == a.c.run_id) & (v.c.attempt_id == a.c.id))
            .where(a.c.run_id == run_id)
            .order_by(a.c.idx)
        )
        if judge is not None:
            query = query.where(v.c.judge == judge)
        with self.engine.connect() as conn:
            # positional, in the select's order (the fields' order): no dict per row
            return [OutcomeRow(*row) for row in conn.execute(query)]

    def outcome_counts(self, run_id: str, judge: str | None = None) -> list[tuple[OutcomeRow, int]]:
        """:meth:`outcomes` grouped: ``(row, n)`` stands for ``n`` identical rows (``id`` empty).

        A few hundred pairs for 100,000 attempts, for
        :func:`redline.report.metrics.summarize_counted`. Read as two covering-index scans
        through the driver's cursor (the attempts' facets: category, attack, look-alike, target
        calls; then the verdicts) and grouped here: a join would make SQLite read each
        attempt's wide row (its transcript) by key, several times slower.
        """
        a, v = schema.attempts, schema.verdicts
        facets = select(a.c.id, a.c.category, a.c.attack, a.c.benign, a.c.target_calls).where(
            a.c.run_id == run_id
        )
        verdicts = select(v.c.attempt_id, v.c.judge, v.c.outcome, v.c.refused, v.c.partial).where(
            v.c.run_id == run_id
        )
        if judge is not None:
            verdicts = verdicts.where(v.c.judge == judge)
        numbers: dict[tuple[str, str, bool, int], int] = {}
        facet_of: dict[str, int] = {}
        with self.engine.connect() as conn:
            for aid, category, attack, benign, calls in fetch_rows(conn, facets):
                facet = (category, attack, bool(benign), calls)
                facet_of[aid] = numbers.setdefault(facet, len(numbers))
            rows = fetch_rows(conn, verdicts)
        get = facet_of.get
        groups = collections.Counter(
            (get(aid), name, outcome, refused, partial)
            for aid, name, outcome, refused, partial in rows
        )
        facet_list = list(numbers)
        counted = []
        for (number, name, outcome, refused, partial), n in groups.items():
            if number is None:  # a verdict whose attempt is not stored: never counted
                continue
            category, attack, benign, calls = facet_list[number]
            row = OutcomeRow(
                "", category, attack, benign, calls, name, outcome,
                None if refused is None else bool(refused),
                None if partial is None else bool(partial),
            )  # fmt: skip
            counted.append((row, n))
        return counted

    def error_verdicts(self, run_id: str, judge: str) -> list[tuple[str, str | None, str]]:
        """``judge``'s error verdicts on ``run_id``, in plan order.

        Each ``(attempt id, the attempt's error, the verdict's rationale)``. Two keyed queries
        (the error verdicts through the judge index, then their attempts by key) rather than a
        join, which SQLite would drive from every verdict of the run.
        """
        a, v = schema.attempts, schema.verdicts
        query = select(v.c.attempt_id, v.c.rationale).where(
            (v.c.run_id == run_id) & (v.c.judge == judge) & (v.c.outcome == "error")
        )
        with self.engine.connect() as conn:
            rationales = dict(fetch_rows(conn, query))
            ids = list(rationales)
            found: list[tuple[int, str, str | None]] = []
            for start in range(0, len(ids), 500):
                chunk = select(a.c.idx, a.c.id, a.c.error).where(
                    (a.c.run_id == run_id) & a.c.id.in_(ids[start : start + 500])
                )
                found += [(idx, aid, error) for idx, aid, error in conn.execute(chunk)]
        found.sort()
        return [(aid, error, rationales[aid]) for _, aid, error in found]

    def judged_attempt_count(self, run_id: str) -> int:
        """How many stored attempts of ``run_id`` have at least one verdict."""
        a, v = schema.attempts, schema.verdicts
        # EXISTS stops at an attempt's first verdict: a tenth of a count(DISTINCT) join's time
        judged = exists().where((v.c.run_id == a.c.run_id) & (v.c.attempt_id == a.c.id))
        query = select(func.count()).select_from(a).where((a.c.run_id == run_id) & judged)
        with self.engine.connect() as conn:
            return int(conn.scalar(query) or 0)

    def verdict_ids(self, run_id: str, judge: str, outcomes: Iterable[str]) -> dict[str, set[str]]:
        """``{outcome: ids of the stored attempts judge's verdict gave it}`` for ``outcomes``."""
        a, v = schema.attempts, schema.verdicts
        wanted = list(outcomes)
        query = (
            select(v.c.outcome, a.c.id)
            .join(v, (v.c.run_id == a.c.run_id) & (v.c.attempt_id == a.c.id))
            .where((a.c.run_id == run_id) & (v.c.judge == judge) & v.c.outcome.in_(wanted))
        )
        found: dict[str, set[str]] = {outcome: set() for outcome in wanted}
        with self.engine.connect() as conn:
            for outcome, attempt_id in conn.execute(query):
                found[outcome].add(attempt_id)
        return found

    # judge calibrations ---------------------------------------------------------------------

    def add_calibration(self, calibration: dict[str, Any]) -> int:
        """Insert a ``judge_calibrations`` row (every column but ``id``); returns its id."""
        with self.engine.begin() as conn:
            result = conn.execute(insert(schema.judge_calibrations).values(**calibration))
            key = result.inserted_primary_key
            assert key is not None  # an INSERT always reports the row's primary key
            return int(key[0])

    def latest_calibration(self, judge: str, kind: str = "harm") -> dict[str, Any] | None:
        """The most recent calibration of the judge labelled ``judge``, or ``None``."""
        c = schema.judge_calibrations
        query = (
            select(c)
            .where((c.c.judge == judge) & (c.c.kind == kind))
            .order_by(c.c.created_at.desc(), c.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else dict(row._mapping)

    def verdict_rationales(self, run_id: str, judge: str, ids: set[str]) -> dict[str, str]:
        """``{attempt id: rationale}`` of ``judge``'s verdicts on the attempts in ``ids``."""
        v = schema.verdicts
        query = select(v.c.attempt_id, v.c.rationale).where(
            (v.c.run_id == run_id) & (v.c.judge == judge)
        )
        with self.engine.connect() as conn:
            return {aid: text for aid, text in conn.execute(query) if aid in ids}

    def iter_attempts(self, run_id: str) -> Iterator[StoredAttempt]:
        """Stored attempts of ``run_id`` in plan order, transcripts decoded.

        Each a :class:`~redline.store.records.StoredAttempt`.
        """
        a = schema.attempts
        query = (
            select(
                a.c.run_id,
                a.c.id,
                a.c.idx,
                a.c.behavior_id,
                a.c.category,
                a.c.benign,
                a.c.attack,
                a.c.repeat,
                a.c.seed,
                a.c.transcript_json,
                a.c.error,
                a.c.target_calls,
                a.c.started_at,
                a.c.ended_at,
            )
            .where(a.c.run_id == run_id)
            .order_by(a.c.idx)
        )
        loads = json.loads
        with self.engine.connect() as conn:
            for r in conn.execute(query):
                # positional, in the select's order (the fields' order): no dict per row
                yield StoredAttempt(
                    r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], loads(r[9]), r[10],
                    r[11], r[12], r[13],
                )  # fmt: skip

    def call_totals(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Per role: calls, failed calls, prompt and completion tokens, total latency."""
        c = schema.calls
        query = (
            select(
                c.c.role,
                func.count(),
                func.sum(case((c.c.ok.is_(False), 1), else_=0)),
                func.sum(c.c.prompt_tokens),
                func.sum(c.c.completion_tokens),
                func.sum(c.c.latency_s),
            )
            .where(c.c.run_id == run_id)
            .group_by(c.c.role)
        )
        with self.engine.connect() as conn:
            return {
                role: {
                    "calls": int(n),
                    "failed": int(failed or 0),
                    "prompt_tokens": int(pt or 0),
                    "completion_tokens": int(ct or 0),
                    "latency_s": float(lat or 0.0),
                }
                for role, n, failed, pt, ct, lat in conn.execute(query)
            }

    def bulk_insert(self, conn: Connection, table: Table, rows: list[tuple]) -> None:
        """Insert many rows (tuples in the table's column order) with one ``executemany``.

        The statement is compiled by SQLAlchemy for this database's dialect, once per table,
        and the rows go straight to the driver. This skips SQLAlchemy's per-row processing,
        which was most of the writer's cost: the writer shares the GIL with the event loop that
        drives the target.
        """
        cached = self._insert_sql.get(table.name)
        if cached is None:
            compiled = insert(table).compile(dialect=self.engine.dialect)
            columns = tuple(column.name for column in table.columns)
            if compiled.positional and tuple(compiled.positiontup or ()) != columns:
                raise StoreError(f"unexpected parameter order for {table.name}")
            cached = self._insert_sql[table.name] = (
                str(compiled),
                None if compiled.positional else columns,
            )
        sql, names = cached
        if rows and len(rows[0]) != len(table.columns):
            raise StoreError(
                f"a {table.name} row has {len(rows[0])} values, not {len(table.columns)}"
            )
        conn.exec_driver_sql(
            sql, [dict(zip(names, row, strict=True)) for row in rows] if names else rows
        )

    def add_judging(
        self,
        run_id: str,
        attempt_id: str,
        verdict: Verdict,
        calls: list[CallRecord],
        judge_spec_sha256: str | None = None,
    ) -> None:
        """Store one re-judging verdict and the judge-model calls it made, in one transaction.

        A verdict already stored for the same judge on this attempt (an ``error`` being judged
        again) is replaced; the calls that judge made before are kept, and the new calls
        continue the attempt's call numbering.
        """
        c, v = schema.calls, schema.verdicts
        with self.engine.begin() as conn:
            conn.execute(
                delete(v).where(
                    (v.c.run_id == run_id)
                    & (v.c.attempt_id == attempt_id)
                    & (v.c.judge == verdict.judge)
                )
            )
            start = conn.scalar(
                select(func.coalesce(func.max(c.c.seq) + 1, 0)).where(
                    (c.c.run_id == run_id) & (c.c.attempt_id == attempt_id)
                )
            )
            clean = self.sanitizer
            self.bulk_insert(
                conn,
                schema.verdicts,
                [verdict_row(run_id, attempt_id, verdict, time.time(), clean, judge_spec_sha256)],
            )
            if calls:
                self.bulk_insert(
                    conn,
                    schema.calls,
                    [
                        call_row(run_id, attempt_id, start + i, call, clean)
                        for i, call in enumerate(calls)
                    ],
                )

    def writer(self, run_id: str, **kwargs: Any) -> Writer:
        """A started writer thread for ``run_id``."""
        writer = Writer(self, run_id, **kwargs)
        writer.start()
        return writer

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.engine.dispose()


_FATAL = (OperationalError, InterfaceError, InternalError)
"""Errors that say the store itself cannot be written (disk full, locked, gone), as opposed to
one row it refuses (a constraint, a value the driver cannot encode)."""

MAX_REFUSED_IN_A_ROW = 25
"""After this many attempts refused one after another (none stored between them), the writer
stops: something is wrong with every row, and the run should not spend more calls."""


def _reason(exc: BaseException) -> str:
    """A short reason for a failed write: the driver's message, never the SQL or its rows."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        text = f"{type(exc.orig).__name__}: {exc.orig}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:297] + "..."


Rows = tuple[tuple, list[tuple], list[tuple]]


class Writer(threading.Thread):
    """Writes finished attempts in batches on its own thread.

    The engine appends results to a deque (no lock, no wake-up per attempt); every
    ``flush_every_s`` the thread takes what has accumulated and writes it in one transaction.
    An attempt is therefore on disk about ``flush_every_s`` after it ends; :meth:`close`
    writes the rest.

    When the store refuses a batch, its attempts are written again one by one, each in its own
    transaction: one bad row never costs the others. An attempt the store still refuses is
    left out (a resume runs it again) and listed in :attr:`refused`; :meth:`close` then raises.
    When the store cannot be written at all, the thread stops and the next :meth:`put` raises.
    """

    def __init__(
        self,
        store: Store,
        run_id: str,
        flush_every_s: float = 0.1,
        judge_specs: dict[str, str] | None = None,
    ) -> None:
        super().__init__(name=f"redline-writer-{run_id}", daemon=True)
        self.store = store
        self.run_id = run_id
        self.flush_every_s = flush_every_s
        self._pending: collections.deque[Rows] = collections.deque()
        self._closing = threading.Event()
        self.failure: BaseException | None = None
        self.refused: list[str] = []
        """One line per attempt the store refused: its id, behaviour, attack and the reason."""
        self._refused_in_a_row = 0
        self.duplicates = 0
        """Attempts not written because the same attempt was already stored (see above)."""
        self.judge_specs = store.judge_spec_hashes(run_id) if judge_specs is None else judge_specs
        """Judge labels to the SHA-256 of their stored spec, for the verdict rows."""

    def put(self, result: AttemptResult) -> None:
        """Queue a finished attempt (non-blocking).

        Its rows are built here, on the caller's thread: the writer thread then runs almost
        only inside the database driver, without the GIL, and never stalls the event loop
        for the length of a batch.
        """
        if self.failure is not None:
            raise StoreError(self._failure_message())
        rows = attempt_rows(self.run_id, result, self.store.sanitizer, self.judge_specs)
        self._pending.append(rows)

    def close(self) -> None:
        """Write everything queued and stop the thread.

        Raises :class:`StoreError` when anything could not be stored.
        """
        self._closing.set()
        self.join()
        if self.failure is not None:
            raise StoreError(self._failure_message())
        if self.refused:
            count = len(self.refused)
            shown = "\n".join(f"  {line}" for line in self.refused[:10])
            more = f"\n  ... and {count - 10} more" if count > 10 else ""
            noun = "attempt" if count == 1 else "attempts"
            raise StoreError(
                f"{count} {noun} of run {self.run_id} could not be stored; the run is marked "
                f"failed, and `redline scan --resume {self.run_id}` runs them again once the "
                f"cause is fixed:\n{shown}{more}"
            )

    def _failure_message(self) -> str:
        assert self.failure is not None
        reason = (
            str(self.failure) if isinstance(self.failure, StoreError) else _reason(self.failure)
        )
        return (
            f"writing results of run {self.run_id} failed: {reason}. The run is marked failed; "
            f"attempts not stored run again with `redline scan --resume {self.run_id}`"
        )

    def run(self) -> None:
        """Write what has accumulated, every ``flush_every_s``, until :meth:`close`."""
        while True:
            closing = self._closing.wait(self.flush_every_s)
            batch = []
            while self._pending:
                batch.append(self._pending.popleft())
            if batch:
                try:
                    self._write(batch)
                except Exception as exc:  # surfaced to the engine through put()/close()
                    self.failure = exc
                    return
            if closing and not self._pending:
                return

    def _write(self, batch: list[Rows]) -> None:
        try:
            self._insert(batch)
        except _FATAL:
            raise
        except Exception as exc:
            if len(batch) == 1:
                self._refuse_or_skip(batch[0], exc)
                return
            for item in batch:
                try:
                    self._insert([item])
                except _FATAL:
                    raise
                except Exception as exc:
                    self._refuse_or_skip(item, exc)
                else:
                    self._refused_in_a_row = 0
        else:
            self._refused_in_a_row = 0

    def _refuse_or_skip(self, item: Rows, exc: BaseException) -> None:
        """An attempt the store refused: a duplicate of a stored one is skipped, else refused.

        The same attempt (same id in the same run) may already be stored by another writer:
        one whose lock was lost (its lock connection dropped) while a resume on another
        machine ran the attempt too. The first copy stored is the attempt; this one is
        counted in :attr:`duplicates`, never stored twice.
        """
        if isinstance(exc, IntegrityError) and self._stored(item[0][1]):
            self.duplicates += 1
            self._refused_in_a_row = 0
            return
        self._refuse(item, exc)

    def _stored(self, attempt_id: str) -> bool:
        a = schema.attempts
        with self.store.engine.connect() as conn:
            found = conn.execute(
                select(a.c.id).where((a.c.run_id == self.run_id) & (a.c.id == attempt_id))
            ).first()
        return found is not None

    def _refuse(self, item: Rows, exc: BaseException) -> None:
        attempt = item[0]
        self.refused.append(
            f"attempt {attempt[1]} (behaviour {attempt[3]}, attack {attempt[6]}): {_reason(exc)}"
        )
        self._refused_in_a_row += 1
        if self._refused_in_a_row >= MAX_REFUSED_IN_A_ROW:
            raise StoreError(
                f"the store refused {self._refused_in_a_row} attempts in a row (the last: "
                f"{self.refused[-1]})"
            )

    def _insert(self, batch: list[Rows]) -> None:
        attempts_ = [attempt for attempt, _, _ in batch]
        calls_ = [row for _, rows, _ in batch for row in rows]
        verdicts_ = [row for _, _, rows in batch for row in rows]
        with self.store.engine.begin() as conn:
            for table, rows in (
                (schema.attempts, attempts_),
                (schema.calls, calls_),
                (schema.verdicts, verdicts_),
            ):
                if rows:
                    self.store.bulk_insert(conn, table, rows)
