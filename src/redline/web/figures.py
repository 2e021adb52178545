"""A run's figures for the web app: the report's own, every judge at once, cached.

:meth:`redline.store.Store.outcome_counts` groups the run's verdicts (a few hundred groups for
100,000 attempts, as for ``redline report``) and
:func:`redline.report.metrics.summarize_counted` turns each judge's into figures. They are
cached per run until its verdict count changes (a scan still writing, a re-judge).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy import func, select

from redline.errors import StoreError
from redline.report.errors import run_error_causes
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
        self._cache: OrderedDict[str, tuple[int, dict[str, dict[str, Any]]]] = OrderedDict()
        self._lock = threading.Lock()
        self._computing = threading.Lock()

    def judges(self, run: dict[str, Any]) -> list[str]:
        """The labels of the judges with verdicts in the run, its configured judges first."""
        return self.store.verdict_judges(run["id"])

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
        """``judge`` matched against the run's judge labels (see :meth:`Store.resolve_judge`)."""
        return self.store.resolve_judge(run["id"], judge)

    def verdict_count(self, run_id: str) -> int:
        """How many verdicts the run has (the cache key's version)."""
        v = schema.verdicts
        with self.store.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).where(v.c.run_id == run_id)) or 0)

    def figures(self, run_id: str, judge: str) -> dict[str, Any]:
        """The report's figures of ``judge`` on ``run_id`` (see :func:`summarize_counted`)."""
        version = self.verdict_count(run_id)
        hit = self._cached(run_id, version)
        if hit is None:
            with self._computing:  # one at a time: a page waits for the warming, not beside it
                hit = self._cached(run_id, version)
                if hit is None:
                    hit = self._compute(run_id)
                    with self._lock:
                        self._cache[run_id] = (version, hit)
                        self._cache.move_to_end(run_id)
                        while len(self._cache) > self.size:
                            self._cache.popitem(last=False)
        if judge not in hit:  # no verdicts from it: the figures of nothing
            return self._judge_figures(run_id, judge, [])
        return hit[judge]

    def _cached(self, run_id: str, version: int) -> dict[str, dict[str, Any]] | None:
        with self._lock:
            hit = self._cache.get(run_id)
            if hit is None or hit[0] != version:
                return None
            self._cache.move_to_end(run_id)
            return hit[1]

    def _compute(self, run_id: str) -> dict[str, dict[str, Any]]:
        """``{judge: figures}`` for every judge with verdicts in the run."""
        by_judge: dict[str, list[tuple[OutcomeRow, int]]] = {}
        for row, n in self.store.outcome_counts(run_id):
            by_judge.setdefault(row.judge, []).append((row, n))
        return {
            judge: self._judge_figures(run_id, judge, counted)
            for judge, counted in by_judge.items()
        }

    def _judge_figures(
        self, run_id: str, judge: str, counted: list[tuple[OutcomeRow, int]]
    ) -> dict[str, Any]:
        figures = summarize_counted(counted, judge)
        figures["error_rates"] = error_rates(figures)
        figures["error_causes"] = run_error_causes(self.store, run_id, judge)
        return figures


def get_run(store: Store, run_id: str) -> dict[str, Any] | None:
    """The run's row as shown, or ``None`` when there is no such run."""
    try:
        return store.get_run(run_id)
    except StoreError:
        return None
