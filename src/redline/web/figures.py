"""A run's figures for the web app, from grouped SQL and cached.

The report's :func:`redline.report.metrics.summarize` reads one row per verdict; here the rows
are grouped first (by category, attack, look-alike or not, outcome, refusal reading and target
calls) from two covering-index scans (the attempts' facets, cached per run, and one judge's
verdicts), so a 100,000-attempt run costs a few hundred groups, not 100,000 rows. The
figures are the report's own (same function), and are cached until the run's verdict count
changes (a scan still writing, a re-judge).
"""

from __future__ import annotations

import json
import threading
from collections import Counter, OrderedDict
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import Connection

from redline.config import match_judge_label
from redline.errors import StoreError
from redline.report.errors import error_causes
from redline.report.metrics import summarize_counted
from redline.report.summary import error_rates
from redline.store import Store, schema
from redline.store.records import OutcomeRow

CACHE_SIZE = 64
WARM_RUNS = 10


class FigureCache:
    """Per-run figures, recomputed when the run's number of verdicts changes."""

    def __init__(self, store: Store, size: int = CACHE_SIZE) -> None:
        self.store = store
        self.size = size
        self._cache: OrderedDict[tuple[str, str], tuple[int, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self._computing = threading.Lock()
        self._facet_cache: dict[str, tuple[int, Any]] = {}

    def judges(self, run: dict[str, Any]) -> list[str]:
        """The labels of the judges with verdicts in the run, its configured judges first."""
        configured = json.loads(run["judges_json"])
        v = schema.verdicts
        with self.store.engine.connect() as conn:
            stored = set(conn.scalars(select(v.c.judge).where(v.c.run_id == run["id"]).distinct()))
        return [j for j in configured if j in stored] + sorted(stored - set(configured))

    def warm(self, runs: int = WARM_RUNS) -> None:
        """Compute the figures of the newest ``runs`` runs, every judge (at the app's start).

        So the first visit of the runs list or an overview finds them ready. A failure is
        left for the page that needs the figures to report.
        """
        try:
            for run in self.store.list_runs()[:runs]:
                for judge in self.judges(run):
                    self.figures(run["id"], judge)
        except Exception:
            return

    def resolve_judge(self, run: dict[str, Any], judge: str | None) -> str | None:
        """``judge`` matched against the run's judge labels; the first judge when not given.

        ``None`` when the run has no verdicts yet; :class:`StoreError` for a judge the run has
        no verdicts of, :class:`~redline.errors.ConfigError` for an ambiguous name.
        """
        judges = self.judges(run)
        if not judges:
            return None
        if not judge:
            return judges[0]
        matched = match_judge_label(judge, judges)
        if matched not in judges:
            raise StoreError(
                f"run {run['id']} has no verdicts from judge {judge!r} (has: {', '.join(judges)})"
            )
        return matched

    def verdict_count(self, run_id: str) -> int:
        """How many verdicts the run has (the cache key's version)."""
        v = schema.verdicts
        with self.store.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).where(v.c.run_id == run_id)) or 0)

    def figures(self, run_id: str, judge: str) -> dict[str, Any]:
        """The report's figures of ``judge`` on ``run_id`` (see :func:`summarize`)."""
        version = self.verdict_count(run_id)
        key = (run_id, judge)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] == version:
                self._cache.move_to_end(key)
                return hit[1]
        with self._computing:  # one at a time: a page waits for the warming, not beside it
            with self._lock:
                hit = self._cache.get(key)
            if hit is not None and hit[0] == version:
                return hit[1]
            figures = self._compute(run_id, judge)
        with self._lock:
            self._cache[key] = (version, figures)
            self._cache.move_to_end(key)
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return figures

    def _facets(self, run_id: str) -> tuple[dict[str, int], list[tuple[str, str, bool, int]]]:
        """Each attempt's facet: ``({attempt id: facet number}, [facets])``, cached per run.

        A facet is (category, attack, benign, target calls); attempts share a few hundred of
        them. Read from a covering index (no transcript is touched) and joined to the verdicts
        in Python: faster here than SQLite's nested-loop join, which would look up each
        attempt's wide row by key. Recomputed when the run's attempt count changes.
        """
        a = schema.attempts
        with self.store.engine.connect() as conn:
            count = int(conn.scalar(select(func.count()).where(a.c.run_id == run_id)) or 0)
            with self._lock:
                hit = self._facet_cache.get(run_id)
            if hit is not None and hit[0] == count:
                return hit[1]
            query = select(a.c.id, a.c.category, a.c.attack, a.c.benign, a.c.target_calls).where(
                a.c.run_id == run_id
            )
            numbers: dict[tuple[str, str, bool, int], int] = {}
            of_attempt: dict[str, int] = {}
            for aid, category, attack, benign, calls in fetch_all(conn, query):
                facet = (category, attack, bool(benign), calls)
                of_attempt[aid] = numbers.setdefault(facet, len(numbers))
        result = (of_attempt, list(numbers))
        with self._lock:
            self._facet_cache[run_id] = (count, result)
            while len(self._facet_cache) > self.size:
                self._facet_cache.pop(next(iter(self._facet_cache)))
        return result

    def _compute(self, run_id: str, judge: str) -> dict[str, Any]:
        of_attempt, facets = self._facets(run_id)
        v = schema.verdicts
        query = select(v.c.attempt_id, v.c.outcome, v.c.refused, v.c.partial).where(
            (v.c.run_id == run_id) & (v.c.judge == judge)
        )
        with self.store.engine.connect() as conn:
            verdicts = fetch_all(conn, query)
        get = of_attempt.get
        groups = Counter(
            (get(aid), outcome, refused, partial) for aid, outcome, refused, partial in verdicts
        )
        rows = (
            (
                OutcomeRow(
                    "", *facets[number], judge, outcome,
                    None if refused is None else bool(refused),
                    None if partial is None else bool(partial),
                ),
                count,
            )
            for (number, outcome, refused, partial), count in groups.items()
            if number is not None
        )  # fmt: skip
        figures = summarize_counted(rows, judge)
        figures["error_rates"] = error_rates(figures)
        figures["error_causes"] = self._error_causes(run_id, judge)
        return figures

    def _error_causes(self, run_id: str, judge: str) -> list[dict[str, Any]]:
        """The causes of ``judge``'s error verdicts (the attempt's error, else the judge's).

        Two keyed queries (the error verdicts through the judge index, then their attempts by
        key) rather than a join, which SQLite would drive from every verdict of the run.
        """
        a, v = schema.attempts, schema.verdicts
        with self.store.engine.connect() as conn:
            rationales = dict(
                fetch_all(
                    conn,
                    select(v.c.attempt_id, v.c.rationale).where(
                        (v.c.run_id == run_id) & (v.c.judge == judge) & (v.c.outcome == "error")
                    ),
                )
            )
            failed: list[tuple[int, str, str | None]] = []
            ids = list(rationales)
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                query = select(a.c.idx, a.c.id, a.c.error).where(
                    (a.c.run_id == run_id) & a.c.id.in_(chunk)
                )
                failed += [tuple(row) for row in conn.execute(query)]
        failed.sort()
        return error_causes(
            [(aid, error if error is not None else rationales[aid], error is None)
             for _, aid, error in failed]
        )  # fmt: skip


def fetch_all(conn: Connection, query: Select[Any]) -> list[Any]:
    """The rows of ``query`` straight from the database driver (plain tuples, raw values).

    SQLAlchemy's result processing costs several times the query itself on 100,000 rows;
    booleans come back as the driver gives them (0/1 on SQLite).
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
        return list(cursor.fetchall())
    finally:
        cursor.close()


def get_run(store: Store, run_id: str) -> dict[str, Any] | None:
    """The run's row as shown, or ``None`` when there is no such run."""
    try:
        return store.get_run(run_id)
    except StoreError:
        return None
