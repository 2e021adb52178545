"""The results store: SQLite by default (WAL mode), any SQLAlchemy URL in principle.

Reads happen on the caller's thread; writes during a run go through one :class:`Writer` thread
that batches finished attempts (attempt, its calls and its verdicts in one transaction), so an
attempt is either fully stored or not at all.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Table, case, create_engine, event, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from redline.errors import StoreError
from redline.model import AttemptResult, CallRecord, Verdict
from redline.store import schema

DEFAULT_DB = Path(".redline") / "redline.db"


def database_url(db: str | Path | None) -> str:
    """Turn a ``--db`` value (a path or a SQLAlchemy URL) into a URL; create parent folders."""
    if db is not None and "://" in str(db):
        return str(db)
    path = Path(db) if db is not None else DEFAULT_DB
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# Row builders return tuples in the column order of their table in ``schema`` (checked by
# ``Store.bulk_insert``): the writer is on the hot path, and dicts per row cost measurably.


def verdict_row(run_id: str, attempt_id: str, verdict: Verdict, now: float) -> tuple:
    """A ``verdicts`` row."""
    return (
        run_id,
        attempt_id,
        verdict.judge,
        verdict.outcome.value,
        verdict.refused,
        verdict.score,
        verdict.rationale,
        verdict.raw,
        now,
        verdict.partial,
    )


def call_row(run_id: str, attempt_id: str, seq: int, call: CallRecord) -> tuple:
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
        call.error,
        call.usage.prompt_tokens,
        call.usage.completion_tokens,
    )


def attempt_rows(run_id: str, result: AttemptResult) -> tuple[tuple, list[tuple], list[tuple]]:
    """The rows one finished attempt becomes: attempt, calls, verdicts."""
    planned, transcript, behavior = result.planned, result.transcript, result.planned.behavior
    document: dict[str, Any] = {
        "messages": [m.to_dict() for m in transcript.messages],
        "goal": behavior.goal,
    }
    if transcript.meta:
        document["meta"] = transcript.meta
    calls = transcript.calls
    attempt = (
        run_id,
        planned.id,
        planned.index,
        behavior.id,
        behavior.category,
        behavior.benign,
        planned.attack_key,
        planned.repeat,
        planned.seed,
        json.dumps(document, ensure_ascii=False),
        transcript.error,
        sum(1 for call in calls if call.role == "target"),
        result.started_at,
        result.ended_at,
    )
    call_rows = [call_row(run_id, planned.id, seq, call) for seq, call in enumerate(calls)]
    verdict_rows = [verdict_row(run_id, planned.id, v, result.ended_at) for v in result.verdicts]
    return attempt, call_rows, verdict_rows


class Store:
    """Access to one results database."""

    def __init__(self, db: str | Path | None = None) -> None:
        self.url = database_url(db)
        self._insert_sql: dict[str, tuple[str, tuple[str, ...] | None]] = {}
        try:
            self.engine: Engine = create_engine(self.url)
            if self.engine.dialect.name == "sqlite":
                event.listen(self.engine, "connect", _sqlite_pragmas)
            self.migrate()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the results store {self.url}: {exc}") from exc

    def migrate(self) -> None:
        """Apply the migrations this database has not had yet."""
        with self.engine.begin() as conn:
            schema.schema_migrations.create(conn, checkfirst=True)
            applied = set(conn.scalars(select(schema.schema_migrations.c.version)))
            for version, name, apply in schema.MIGRATIONS:
                if version not in applied:
                    apply(conn)
                    conn.execute(
                        insert(schema.schema_migrations).values(
                            version=version, name=name, applied_at=time.time()
                        )
                    )

    # runs -----------------------------------------------------------------------------------

    def create_run(self, run: dict[str, Any]) -> None:
        """Insert a ``runs`` row."""
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(insert(schema.runs).values(created_at=now, updated_at=now, **run))

    def set_status(self, run_id: str, status: str) -> None:
        """Record a run's status (running, completed, interrupted, budget_exhausted, failed)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(schema.runs)
                .where(schema.runs.c.id == run_id)
                .values(status=status, updated_at=time.time())
            )

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
            raise StoreError(f"no run {run_id!r} in {self.url}{hint}")
        return dict(row._mapping)

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
            return [dict(row._mapping) for row in conn.execute(query)]

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

    def outcomes(self, run_id: str, judge: str | None = None) -> list[dict[str, Any]]:
        """One row per stored attempt and judge.

        Keys: id, category, attack, benign, target_calls, judge, outcome, refused (``None``
        when the judge does not read refusal), partial.
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
            return [dict(row._mapping) for row in conn.execute(query)]

    # judge calibrations ---------------------------------------------------------------------

    def add_calibration(self, calibration: dict[str, Any]) -> int:
        """Insert a ``judge_calibrations`` row (every column but ``id``); returns its id."""
        with self.engine.begin() as conn:
            result = conn.execute(insert(schema.judge_calibrations).values(**calibration))
            return int(result.inserted_primary_key[0])

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

    def iter_attempts(self, run_id: str) -> Iterator[dict[str, Any]]:
        """Stored attempts of ``run_id`` in plan order, transcripts decoded."""
        query = (
            select(schema.attempts)
            .where(schema.attempts.c.run_id == run_id)
            .order_by(schema.attempts.c.idx)
        )
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                record = dict(row._mapping)
                record["transcript"] = json.loads(record.pop("transcript_json"))
                yield record

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

    def add_verdicts(self, run_id: str, rows: Iterable[tuple[str, Verdict]]) -> int:
        """Insert verdicts for stored attempts (used by re-judging); returns how many."""
        now = time.time()
        batch = [verdict_row(run_id, attempt_id, verdict, now) for attempt_id, verdict in rows]
        if batch:
            with self.engine.begin() as conn:
                self.bulk_insert(conn, schema.verdicts, batch)
        return len(batch)

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
        self, run_id: str, attempt_id: str, verdict: Verdict, calls: list[CallRecord]
    ) -> None:
        """Store one re-judging verdict and the judge-model calls it made, in one transaction.

        The calls continue the attempt's call numbering.
        """
        c = schema.calls
        with self.engine.begin() as conn:
            start = conn.scalar(
                select(func.coalesce(func.max(c.c.seq) + 1, 0)).where(
                    (c.c.run_id == run_id) & (c.c.attempt_id == attempt_id)
                )
            )
            self.bulk_insert(
                conn, schema.verdicts, [verdict_row(run_id, attempt_id, verdict, time.time())]
            )
            if calls:
                self.bulk_insert(
                    conn,
                    schema.calls,
                    [call_row(run_id, attempt_id, start + i, call) for i, call in enumerate(calls)],
                )

    def writer(self, run_id: str, **kwargs: Any) -> Writer:
        """A started writer thread for ``run_id``."""
        writer = Writer(self, run_id, **kwargs)
        writer.start()
        return writer

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.engine.dispose()


class Writer(threading.Thread):
    """Writes finished attempts in batches on its own thread.

    The engine appends results to a deque (no lock, no wake-up per attempt); every
    ``flush_every_s`` the thread takes what has accumulated and writes it in one transaction.
    An attempt is therefore on disk about ``flush_every_s`` after it ends; :meth:`close`
    writes the rest.
    """

    def __init__(self, store: Store, run_id: str, flush_every_s: float = 0.1) -> None:
        super().__init__(name=f"redline-writer-{run_id}", daemon=True)
        self.store = store
        self.run_id = run_id
        self.flush_every_s = flush_every_s
        self._pending: collections.deque[tuple[tuple, list[tuple], list[tuple]]] = (
            collections.deque()
        )
        self._closing = threading.Event()
        self.written = 0
        self.failure: BaseException | None = None

    def put(self, result: AttemptResult) -> None:
        """Queue a finished attempt (non-blocking).

        Its rows are built here, on the caller's thread: the writer thread then runs almost
        only inside the database driver, without the GIL, and never stalls the event loop
        for the length of a batch.
        """
        if self.failure is not None:
            raise StoreError(f"the results store stopped accepting writes: {self.failure}")
        self._pending.append(attempt_rows(self.run_id, result))

    def close(self) -> None:
        """Write everything queued and stop the thread."""
        self._closing.set()
        self.join()
        if self.failure is not None:
            raise StoreError(f"writing results failed: {self.failure}")

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

    def _write(self, batch: list[tuple[tuple, list[tuple], list[tuple]]]) -> None:
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
        self.written += len(batch)
