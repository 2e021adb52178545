"""Pages: the list of runs, a run's overview (the report's figures, clickable), a comparison."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from redline.engine.budget import status_note
from redline.errors import RedlineError
from redline.report.diff import diff_runs
from redline.store import Store
from redline.targets.base import target_name
from redline.web.figures import FigureCache, get_run
from redline.web.templating import page

HEAT_LEVELS = 10
"""Heat-map cells are coloured in this many steps (classes ``heat-0`` .. ``heat-10``)."""


def heat_level(rate: float | None) -> int | None:
    """A rate in [0, 1] as a colour step of the heat map (``None``: nothing judged)."""
    return None if rate is None else round(rate * HEAT_LEVELS)


def not_found(request: Request, what: str) -> Response:
    """The 404 page, saying what was not found."""
    return page(request, "not_found.html.j2", status_code=404, what=what)


def path_run(request: Request) -> dict[str, Any] | Response:
    """The run named by the path's ``run_id`` (its row), or the 404 page saying so."""
    run_id = request.path_params["run_id"]
    run = get_run(request.app.state.store, run_id)
    return not_found(request, f"run {run_id}") if run is None else run


def run_list(request: Request) -> Response:
    """Every run, newest first, with its attack success and over-refusal by its first judge."""
    store: Store = request.app.state.store
    cache: FigureCache = request.app.state.figures
    rows = []
    for run in store.list_runs():
        judge = cache.resolve_judge(run, None)
        figures = cache.figures(run["id"], judge) if judge else None
        rows.append(
            {
                "run": run,
                "target": target_name(json.loads(run["target_json"])),
                "status_note": status_note(run["status"], run.get("status_detail")),
                "judge": judge,
                "figures": figures,
            }
        )
    return page(request, "runs.html.j2", rows=rows)


def run_overview(request: Request) -> Response:
    """The report's figures for one run and judge, each linking to its attempts."""
    store: Store = request.app.state.store
    cache: FigureCache = request.app.state.figures
    run = path_run(request)
    if isinstance(run, Response):
        return run
    run_id = run["id"]
    judges = cache.judges(run)
    try:
        judge = cache.resolve_judge(run, request.query_params.get("judge"))
    except RedlineError as exc:
        return page(request, "not_found.html.j2", status_code=404, what=str(exc))
    figures = cache.figures(run_id, judge) if judge else None
    per_judge = {name: cache.figures(run_id, name) for name in judges}
    attacks = sorted(figures["by_attack"]) if figures else []
    return page(
        request,
        "overview.html.j2",
        run=run,
        target=target_name(json.loads(run["target_json"])),
        judge=judge,
        judges=judges,
        figures=figures,
        per_judge=per_judge,
        attacks=attacks,
        heat_level=heat_level,
        calls=store.call_totals(run_id),
    )


def compare(request: Request) -> Response:
    """Two runs of the same plan side by side: new failures, fixes, McNemar (``redline diff``)."""
    store: Store = request.app.state.store
    run_a, run_b = request.query_params.get("a"), request.query_params.get("b")
    runs = store.list_runs()
    result, problem = None, None
    if run_a and run_b:
        try:
            result = diff_runs(store, run_a, run_b, request.query_params.get("judge") or None)
        except RedlineError as exc:
            problem = str(exc)
    return page(
        request, "compare.html.j2", runs=runs, run_a=run_a, run_b=run_b, result=result,
        problem=problem,
    )  # fmt: skip


routes = [
    Route("/", run_list, name="runs"),
    Route("/runs/{run_id}", run_overview, name="overview"),
    Route("/compare", compare, name="compare"),
]
