"""The results store: SQLite by default (WAL mode), any SQLAlchemy URL in principle.

Reads happen on the caller's thread; writes during a run go through one :class:`Writer` thread
that batches finished attempts (attempt, its calls and its verdicts in one transaction), so an
attempt is either fully stored or not at all.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import case, create_engine, event, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from redline.errors import StoreError
from redline.model import AttemptResult, Verdict
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


def verdict_row(run_id: str, attempt_id: str, verdict: Verdict, now: float) -> dict[str, Any]:
    """A ``verdicts`` row."""
    return {
        "run_id": run_id,
        "attempt_id": attempt_id,
        "judge": verdict.judge,
        "outcome": verdict.outcome.value,
        "refused": verdict.refused,
        "score": verdict.score,
        "rationale": verdict.rationale,
        "raw": verdict.raw,
        "created_at": now,
    }


def attempt_rows(run_id: str, result: AttemptResult) -> tuple[dict, list[dict], list[dict]]:
    """The rows one finished attempt becomes: attempt, calls, verdicts."""
    planned, transcript = result.planned, result.transcript
    attempt = {
        "run_id": run_id,
        "id": planned.id,
        "idx": planned.index,
        "behavior_id": planned.behavior.id,
        "category": planned.behavior.category,
        "benign": planned.behavior.benign,
        "attack": planned.attack_key,
        "repeat": planned.repeat,
        "seed": planned.seed,
        "transcript_json": json.dumps(
            {
                "messages": [m.to_dict() for m in transcript.messages],
                "goal": planned.behavior.goal,
                **({"meta": transcript.meta} if transcript.meta else {}),
            },
            ensure_ascii=False,
        ),
        "error": transcript.error,
        "target_calls": transcript.target_calls,
        "started_at": result.started_at,
        "ended_at": result.ended_at,
    }
    call_rows = [
        {
            "run_id": run_id,
            "attempt_id": planned.id,
            "seq": seq,
            "role": call.role,
            "started_at": call.started_at,
            "latency_s": call.latency_s,
            "ok": call.ok,
            "status": call.status,
            "error": call.error,
            "prompt_tokens": call.usage.prompt_tokens,
            "completion_tokens": call.usage.completion_tokens,
        }
        for seq, call in enumerate(transcript.calls)
    ]
    verdict_rows = [verdict_row(run_id, planned.id, v, result.ended_at) for v in result.verdicts]
    return attempt, call_rows, verdict_rows


class Store:
    """Access to one results database."""

    def __init__(self, db: str | Path | None = None) -> None:
        self.url = database_url(db)
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
        """One row per stored attempt and judge: category, attack, benign, judge, outcome."""
        a, v = schema.attempts, schema.verdicts
        query = (
            select(a.c.id, a.c.category, a.c.attack, a.c.benign, v.c.judge, v.c.outcome)
            .join(v, (v.c.run_id == a.c.run_id) & (v.c.attempt_id == a.c.id))
            .where(a.c.run_id == run_id)
            .order_by(a.c.idx)
        )
        if judge is not None:
            query = query.where(v.c.judge == judge)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

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
                conn.execute(insert(schema.verdicts), batch)
        return len(batch)

    def writer(self, run_id: str, **kwargs: Any) -> Writer:
        """A started writer thread for ``run_id``."""
        writer = Writer(self, run_id, **kwargs)
        writer.start()
        return writer

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.engine.dispose()


_STOP = object()


class Writer(threading.Thread):
    """Writes finished attempts in batches on its own thread.

    A batch is flushed when it reaches ``batch_size`` attempts or ``max_delay_s`` after its
    first attempt arrived, whichever comes first, in one transaction.
    """

    def __init__(
        self, store: Store, run_id: str, batch_size: int = 256, max_delay_s: float = 0.05
    ) -> None:
        super().__init__(name=f"redline-writer-{run_id}", daemon=True)
        self.store = store
        self.run_id = run_id
        self.batch_size = batch_size
        self.max_delay_s = max_delay_s
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.written = 0
        self.failure: BaseException | None = None

    def put(self, result: AttemptResult) -> None:
        """Queue a finished attempt (non-blocking)."""
        if self.failure is not None:
            raise StoreError(f"the results store stopped accepting writes: {self.failure}")
        self.queue.put(result)

    def close(self) -> None:
        """Flush everything queued and stop the thread."""
        self.queue.put(_STOP)
        self.join()
        if self.failure is not None:
            raise StoreError(f"writing results failed: {self.failure}")

    def run(self) -> None:
        """Drain the queue in batches until :meth:`close`."""
        stopping = False
        while not stopping:
            item = self.queue.get()
            if item is _STOP:
                break
            batch = [item]
            deadline = time.monotonic() + self.max_delay_s
            while len(batch) < self.batch_size:
                timeout = deadline - time.monotonic()
                try:
                    item = (
                        self.queue.get(timeout=timeout) if timeout > 0 else self.queue.get_nowait()
                    )
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            try:
                self._write(batch)
            except Exception as exc:  # surfaced to the engine through put()/close()
                self.failure = exc
                return

    def _write(self, batch: list[AttemptResult]) -> None:
        attempt_rows_: list[dict] = []
        call_rows: list[dict] = []
        verdict_rows: list[dict] = []
        for result in batch:
            attempt, calls_, verdicts_ = attempt_rows(self.run_id, result)
            attempt_rows_.append(attempt)
            call_rows.extend(calls_)
            verdict_rows.extend(verdicts_)
        with self.store.engine.begin() as conn:
            conn.execute(insert(schema.attempts), attempt_rows_)
            if call_rows:
                conn.execute(insert(schema.calls), call_rows)
            if verdict_rows:
                conn.execute(insert(schema.verdicts), verdict_rows)
        self.written += len(batch)


__all__ = ["DEFAULT_DB", "Store", "Writer", "database_url"]
