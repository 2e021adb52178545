"""Labelling: people label a run's replies one at a time; the judges' agreement with them.

- ``/runs/{run_id}/label`` (``label``): a queue of the run's replies. Its order is fixed: the
  replies the run's judges disagree on first (different outcomes, or a judge that read a
  refusal it still called unsafe), then the others, each in plan order. The page opens at the
  first reply nobody has labelled yet (labelled by anyone is skipped: one label per reply is
  what the agreement needs, and several people then share one queue); ``?attempt=ID`` opens
  one reply, ``?after=ID`` the next unlabelled one after it (where saving goes). Replies with
  no answer (attempts in error) are not in the queue.
- ``POST /api/runs/{run_id}/attempts/{attempt_id}/labels`` (``save_label``): JSON
  ``{labeller, refusal, harm, note}`` → the stored label; 400 ``{"error", "field"}`` for a bad
  value, 404 for an unknown attempt.
- ``/runs/{run_id}/agreement`` (``agreement``): each judge's stored verdicts against the run's
  current human labels (:func:`redline.report.calibration.run_agreement`).
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from redline.errors import StoreError
from redline.report.calibration import prompt_and_reply, run_agreement
from redline.store import Store, fetch_rows, schema
from redline.store.labels import (
    HARM_LABELS,
    REFUSAL_LABELS,
    LabelError,
    add_label,
    current_labels,
    label_history,
)
from redline.web.figures import FigureCache, get_run
from redline.web.runs import not_found, path_run
from redline.web.templating import page

MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Queue:
    """The run's labelling order and who is labelled."""

    order: list[str]
    """Attempt ids with a reply: disagreements first, then the rest, each in plan order."""
    disagree: set[str]
    labelled: set[str]
    position: dict[str, int] = field(default_factory=dict)
    """``{attempt id: index in order}``."""

    def __post_init__(self) -> None:
        if not self.position:
            self.position.update((aid, i) for i, aid in enumerate(self.order))

    def first_unlabelled(self, after: str | None = None) -> str | None:
        """The first unlabelled attempt after ``after`` (wrapping round), or ``None``."""
        start = self.position[after] + 1 if after in self.position else 0
        for aid in itertools.chain(self.order[start:], self.order[:start]):
            if aid not in self.labelled:
                return aid
        return None

    def neighbours(self, attempt_id: str) -> tuple[str | None, str | None]:
        """The attempts before and after ``attempt_id`` in the order."""
        i = self.position.get(attempt_id)
        if i is None:
            return None, None
        return (
            self.order[i - 1] if i > 0 else None,
            self.order[i + 1] if i + 1 < len(self.order) else None,
        )


class OrderCache:
    """One app's labelling orders: ``{run id: (verdict count, (order, disagreements))}``."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self.entries: dict[str, tuple[int, tuple[list[str], set[str]]]] = {}
        self.lock = threading.Lock()


def _order(store: Store, run_id: str, cache: OrderCache | None) -> tuple[list[str], set[str]]:
    """``(order, disagreements)`` of the run, kept in ``cache`` while its verdicts stay.

    Cached until the run's verdict count changes (verdicts are only ever added).

    Read from the covering indexes only (plan order of the attempts, the judges' outcomes):
    an attempt in error has only ``error`` verdicts, so it drops out without reading its row.
    """
    a, v = schema.attempts, schema.verdicts
    with store.engine.connect() as conn:
        version = int(conn.scalar(select(func.count()).where(v.c.run_id == run_id)) or 0)
        if cache is not None:
            with cache.lock:
                hit = cache.entries.get(run_id)
            if hit is not None and hit[0] == version:
                return hit[1]
        planned = [row[0] for row in fetch_rows(
            conn, select(a.c.id).where(a.c.run_id == run_id).order_by(a.c.idx)
        )]  # fmt: skip
        outcomes: dict[str, set[str]] = {}
        surprising: set[str] = set()
        query = select(v.c.attempt_id, v.c.outcome, v.c.refused).where(v.c.run_id == run_id)
        for aid, outcome, refused in fetch_rows(conn, query):
            if outcome == "error":
                continue
            outcomes.setdefault(aid, set()).add(outcome)
            if refused and outcome == "unsafe":
                surprising.add(aid)
    disagree = {aid for aid, seen in outcomes.items() if len(seen) > 1} | surprising
    answered = [aid for aid in planned if aid in outcomes]
    order = [aid for aid in answered if aid in disagree] + [
        aid for aid in answered if aid not in disagree
    ]
    result = (order, disagree & set(order))
    if cache is not None:
        with cache.lock:
            cache.entries[run_id] = (version, result)
            while len(cache.entries) > cache.size:
                cache.entries.pop(next(iter(cache.entries)))
    return result


def warm_orders(store: Store, cache: OrderCache, runs: int = 5) -> None:
    """Compute the labelling order of the newest ``runs`` runs into ``cache``."""
    try:
        for run in store.list_runs()[:runs]:
            _order(store, run["id"], cache)
    except Exception:
        return


def build_queue(store: Store, run_id: str, cache: OrderCache | None = None) -> Queue:
    """The labelling order of ``run_id`` (see the module docstring)."""
    order, disagree = _order(store, run_id, cache)
    return Queue(order, disagree, set(current_labels(store, run_id)))


def _attempt(store: Store, run_id: str, attempt_id: str) -> dict[str, Any] | None:
    a = schema.attempts
    query = select(
        a.c.id, a.c.idx, a.c.behavior_id, a.c.category, a.c.benign, a.c.attack,
        a.c.transcript_json,
    ).where((a.c.run_id == run_id) & (a.c.id == attempt_id))  # fmt: skip
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    found = dict(row._mapping)
    transcript = json.loads(found.pop("transcript_json"))
    messages = [m for m in transcript.get("messages") or [] if isinstance(m, dict)]
    pair = prompt_and_reply(messages)
    found.update(
        goal=transcript.get("goal"),
        messages=messages,
        prompt=pair[0] if pair else "",
        reply=pair[1] if pair else None,
        multi_turn=sum(1 for m in messages if m.get("role") == "assistant") > 1,
    )
    return found


def _verdicts(store: Store, run_id: str, attempt_id: str) -> list[dict[str, Any]]:
    v = schema.verdicts
    query = select(v.c.judge, v.c.outcome, v.c.refused, v.c.partial, v.c.rationale).where(
        (v.c.run_id == run_id) & (v.c.attempt_id == attempt_id)
    )
    with store.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def label_page(request: Request) -> Response:
    """One reply of the run to label, with the progress and the agreement so far."""
    store: Store = request.app.state.store
    cache: FigureCache = request.app.state.figures
    run = path_run(request)
    if isinstance(run, Response):
        return run
    run_id = run["id"]
    queue = build_queue(store, run_id, request.app.state.label_orders)
    wanted = request.query_params.get("attempt")
    if wanted:
        if wanted not in queue.position:
            return not_found(request, f"a reply to label with id {wanted} in run {run_id}")
        attempt_id: str | None = wanted
    else:
        attempt_id = queue.first_unlabelled(request.query_params.get("after"))
    judges = cache.judges(run)
    figures = run_agreement(store, run_id, judges[:1]) if judges else {}
    context: dict[str, Any] = {
        "run": run,
        "queue": queue,
        "labelled": sum(1 for aid in queue.order if aid in queue.labelled),
        "total": len(queue.order),
        "first_judge": judges[0] if judges else None,
        "so_far": figures.get(judges[0]) if judges else None,
        "attempt": None,
        "refusal_labels": REFUSAL_LABELS,
        "harm_labels": HARM_LABELS,
    }
    if attempt_id is not None:
        history = label_history(store, run_id, attempt_id)
        before, after = queue.neighbours(attempt_id)
        context.update(
            attempt=_attempt(store, run_id, attempt_id),
            verdicts=_verdicts(store, run_id, attempt_id),
            history=history,
            current=history[-1] if history else None,
            before=before,
            after=after,
            disagreement=attempt_id in queue.disagree,
            position=queue.position[attempt_id] + 1,
        )
    return page(request, "label.html.j2", **context)


def _error(message: str, status: int, field: str | None = None) -> JSONResponse:
    body = {"error": message} if field is None else {"error": message, "field": field}
    return JSONResponse(body, status_code=status)


async def save_label(request: Request) -> Response:
    """Store one label (JSON ``{labeller, refusal, harm, note}``); returns the stored row."""
    store: Store = request.app.state.store
    run_id, attempt_id = request.path_params["run_id"], request.path_params["attempt_id"]
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        return _error(f"the request body is larger than {MAX_BODY_BYTES} bytes", 413)
    try:
        body = json.loads(raw or b"null")
    except (ValueError, RecursionError):
        return _error("the request body is not JSON", 400, "body")
    if not isinstance(body, dict):
        return _error("the request body must be a JSON object", 400, "body")
    unknown = sorted(set(body) - {"labeller", "refusal", "harm", "note"})
    if unknown:
        return _error(f"unknown field {unknown[0]!r}", 400, unknown[0])
    if get_run(store, run_id) is None:
        return _error(f"no run {run_id!r}", 404)
    try:
        label = add_label(
            store,
            run_id,
            attempt_id,
            body.get("labeller"),
            body.get("refusal"),
            body.get("harm"),
            body.get("note"),
        )
    except LabelError as exc:
        return _error(str(exc), 400, exc.field)
    except StoreError:  # its message names the database: say only what is missing
        return _error(f"no attempt {attempt_id!r} in run {run_id!r}", 404)
    return JSONResponse(label.to_dict())


def agreement_page(request: Request) -> Response:
    """Each judge of the run against the run's human labels: harm and refusal."""
    store: Store = request.app.state.store
    cache: FigureCache = request.app.state.figures
    run = path_run(request)
    if isinstance(run, Response):
        return run
    run_id = run["id"]
    judges = cache.judges(run)
    labels = current_labels(store, run_id)
    return page(
        request,
        "agreement.html.j2",
        run=run,
        judges=judges,
        figures=run_agreement(store, run_id, judges),
        labels=len(labels),
        labellers=sorted({label.labeller for label in labels.values()}),
    )


routes: list[BaseRoute] = [
    Route("/runs/{run_id}/label", label_page, name="label"),
    Route("/runs/{run_id}/agreement", agreement_page, name="agreement"),
    Route(
        "/api/runs/{run_id}/attempts/{attempt_id}/labels",
        save_label,
        methods=["POST"],
        name="save_label",
    ),
]
