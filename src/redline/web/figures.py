"""A run's figures for the web app, from grouped SQL and cached.

The report's :func:`redline.report.metrics.summarize` reads one row per verdict; here the
database groups them first (by category, attack, look-alike or not, outcome, refusal reading and
target calls), so a 100,000-attempt run costs one indexed scan and a few hundred groups. The
figures are the report's own (same function), and are cached until the run's verdict count
changes (a scan still writing, a re-judge).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy import func, select

from redline.config import match_judge_label
from redline.errors import StoreError
from redline.report.errors import error_causes
from redline.report.metrics import summarize
from redline.report.summary import error_rates
from redline.store import Store, schema
from redline.store.records import OutcomeRow

CACHE_SIZE = 64


class FigureCache:
    """Per-run figures, recomputed when the run's number of verdicts changes."""

    def __init__(self, store: Store, size: int = CACHE_SIZE) -> None:
        self.store = store
        self.size = size
        self._cache: OrderedDict[tuple[str, str], tuple[int, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def judges(self, run: dict[str, Any]) -> list[str]:
        """The labels of the judges with verdicts in the run, its configured judges first."""
        configured = json.loads(run["judges_json"])
        v = schema.verdicts
        with self.store.engine.connect() as conn:
            stored = set(conn.scalars(select(v.c.judge).where(v.c.run_id == run["id"]).distinct()))
        return [j for j in configured if j in stored] + sorted(stored - set(configured))

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
        figures = self._compute(run_id, judge)
        with self._lock:
            self._cache[key] = (version, figures)
            self._cache.move_to_end(key)
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return figures

    def _compute(self, run_id: str, judge: str) -> dict[str, Any]:
        a, v = schema.attempts, schema.verdicts
        query = (
            select(
                a.c.category,
                a.c.attack,
                a.c.benign,
                a.c.target_calls,
                v.c.outcome,
                v.c.refused,
                v.c.partial,
                func.count(),
            )
            .join(v, (v.c.run_id == a.c.run_id) & (v.c.attempt_id == a.c.id))
            .where((a.c.run_id == run_id) & (v.c.judge == judge))
            .group_by(
                a.c.category, a.c.attack, a.c.benign, a.c.target_calls,
                v.c.outcome, v.c.refused, v.c.partial,
            )
        )  # fmt: skip
        with self.store.engine.connect() as conn:
            groups = conn.execute(query).all()
        rows = itertools.chain.from_iterable(
            itertools.repeat(
                OutcomeRow("", cat, attack, bool(benign), calls, judge, outcome, refused, partial),
                count,
            )
            for cat, attack, benign, calls, outcome, refused, partial, count in groups
        )
        figures = summarize(rows, judge)
        figures["error_rates"] = error_rates(figures)
        figures["error_causes"] = self._error_causes(run_id, judge)
        return figures

    def _error_causes(self, run_id: str, judge: str) -> list[dict[str, Any]]:
        a, v = schema.attempts, schema.verdicts
        query = (
            select(a.c.id, a.c.error, v.c.rationale)
            .join(v, (v.c.run_id == a.c.run_id) & (v.c.attempt_id == a.c.id))
            .where((a.c.run_id == run_id) & (v.c.judge == judge) & (v.c.outcome == "error"))
            .order_by(a.c.idx)
        )
        with self.store.engine.connect() as conn:
            failed = conn.execute(query).all()
        return error_causes(
            [(aid, error if error is not None else rationale, error is None)
             for aid, error, rationale in failed]
        )  # fmt: skip


def get_run(store: Store, run_id: str) -> dict[str, Any] | None:
    """The run's row as shown, or ``None`` when there is no such run."""
    try:
        return store.get_run(run_id)
    except StoreError:
        return None
