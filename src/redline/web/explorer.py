"""Pages: the attempts explorer (every attempt of a run, filtered, paged) and one transcript.

The explorer's query string is its whole state (a GET form), so every filtered view has a URL
to share: ``judge``, ``category``, ``attack``, ``verdict``, ``disagree``, ``label``, ``q``,
``sort``, ``page``, ``per_page`` (see :mod:`redline.web.queries`, which holds the SQL). A
transcript opened from the explorer carries the same parameters, for its previous and next
links within the view.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from redline.errors import ConfigError, StoreError
from redline.report.text import printable
from redline.store import Store
from redline.web import queries
from redline.web.figures import FigureCache
from redline.web.queries import BadParameter, Filters
from redline.web.runs import not_found, path_run
from redline.web.templating import page

PREVIEW_CHARS = 160
_SPACES = re.compile(r"\s+")

OUTCOME_NAMES = {"over_refusal": "over-refusal"}


def preview(text: str | None, limit: int = PREVIEW_CHARS) -> str:
    """``text`` on one line, at most ``limit`` characters (an ellipsis when cut)."""
    if not text:
        return ""
    line = _SPACES.sub(" ", printable(text[: limit * 4])).strip()
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def shown(text: Any) -> str:
    """Model-written text as shown (the template escapes it): no control characters."""
    return printable("" if text is None else text, multiline=True)


def last_message(transcript: dict[str, Any], role: str) -> str | None:
    """The content of the conversation's last message from ``role``."""
    for message in reversed(transcript.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == role:
            return str(message.get("content", ""))
    return None


def refusal_reading(refused: bool | None, partial: bool | None) -> str:
    """A verdict's refusal reading in words (an em dash when the judge does not read it)."""
    if refused is None:
        return "—"
    if refused:
        return "partial refusal" if partial else "refused"
    return "not refused"


def resolve_judge(cache: FigureCache, run: dict[str, Any], requested: str | None) -> str | None:
    """The judge whose verdicts the view shows: ``requested`` or the run's first judge."""
    try:
        return cache.resolve_judge(run, requested)
    except ConfigError as exc:
        raise BadParameter(str(exc)) from None
    except StoreError:
        known = ", ".join(cache.judges(run)) or "none yet"
        raise BadParameter(
            f"judge {requested!r} has no verdicts in this run (judges: {known})"
        ) from None


def _row_view(row: queries.Row, link: str) -> dict[str, Any]:
    outcome = row.outcome
    return {
        "id": row.id,
        "idx": row.idx,
        "link": link,
        "category": row.category,
        "attack": row.attack,
        "benign": row.benign,
        "outcome": outcome,
        "outcome_name": OUTCOME_NAMES.get(outcome or "", outcome) if outcome else "not judged",
        "refusal": refusal_reading(row.refused, row.partial),
        "score": row.score,
        "label": " · ".join(x for x in (row.label_refusal, row.label_harm) if x),
        "labeller": row.labeller,
        "prompt": preview(last_message(row.transcript, "user")),
        "reply": preview(last_message(row.transcript, "assistant")),
        "error": preview(row.error, 80) if row.error else None,
        "target_calls": row.target_calls,
        "duration_s": row.duration_s,
    }


def explorer(request: Request) -> Response:
    """Every attempt of a run, filtered by the query string, one page at a time."""
    store: Store = request.app.state.store
    cache: FigureCache = request.app.state.figures
    run = path_run(request)
    if isinstance(run, Response):
        return run
    run_id = run["id"]
    judges = cache.judges(run)
    problem = None
    try:
        filters = parse_request(request, cache, run)
    except BadParameter as exc:
        problem = str(exc)
        filters = Filters(judge=judges[0] if judges else None)
    with store.engine.connect() as conn:
        categories, attacks = queries.facets(conn, run_id)
        if problem is not None:
            total, rows = 0, []
        else:
            ids, total = queries.page_ids(conn, run_id, filters)
            rows = queries.page_rows(conn, run_id, filters.judge, ids)
    pages = max(1, -(-total // filters.per_page))
    suffix = "?" + urlencode(view_params(filters, filters.page))
    views = [
        _row_view(row, request.app.url_path_for("transcript", run_id=run_id, attempt_id=row.id)
                  + suffix)
        for row in rows
    ]  # fmt: skip
    return page(
        request,
        "explorer.html.j2",
        status_code=400 if problem else 200,
        run=run,
        judges=judges,
        filters=filters,
        problem=problem,
        total=total,
        pages=pages,
        rows=views,
        first=(filters.page - 1) * filters.per_page + 1,
        categories=categories,
        attacks=attacks,
        verdicts=queries.VERDICTS,
        labels=queries.LABELS,
        sorts=queries.SORTS,
        per_pages=sorted({50, 100, 200, 500, filters.per_page}),
    )


def view_params(filters: Filters, page_number: int) -> dict[str, str]:
    """The query string of a transcript in the view ``filters``, on page ``page_number``."""
    params = filters.params()
    if page_number > 1:
        params["page"] = str(page_number)
    return params


def parse_request(request: Request, cache: FigureCache, run: dict[str, Any]) -> Filters:
    """The view the request's query string asks for, its judge resolved."""
    filters = queries.parse_filters(request.query_params)
    return replace(filters, judge=resolve_judge(cache, run, filters.judge))


def meta_sections(meta: Any) -> list[dict[str, Any]]:
    """What an attack recorded (PAIR/TAP's scored prompts, Crescendo's backtracked turns, ...).

    Each key becomes a section: a list of objects a table (one row each, text escaped by the
    template), a plain value a line, anything else indented JSON.
    """
    if not isinstance(meta, dict):
        return [] if meta is None else [{"key": "meta", "kind": "json", "value": _json(meta)}]
    sections = []
    for key, value in meta.items():
        if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            columns: list[str] = []
            for item in value:
                columns += [str(k) for k in item if str(k) not in columns]
            rows = [[_cell(item.get(c)) for c in columns] for item in value]
            sections.append({"key": str(key), "kind": "table", "columns": columns, "rows": rows})
        elif value is None or isinstance(value, str | int | float | bool):
            sections.append({"key": str(key), "kind": "value", "value": _cell(value)})
        else:
            sections.append({"key": str(key), "kind": "json", "value": _json(value)})
    return sections


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return shown(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, bool | int):
        return str(value)
    return _json(value)


def _json(value: Any) -> str:
    return shown(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def transcript(request: Request) -> Response:
    """One attempt whole: the conversation, the attack's steps, every verdict, labels, calls."""
    store: Store = request.app.state.store
    cache: FigureCache = request.app.state.figures
    attempt_id = request.path_params["attempt_id"]
    run = path_run(request)
    if isinstance(run, Response):
        return run
    run_id = run["id"]
    try:
        filters: Filters | None = parse_request(request, cache, run)
    except BadParameter:
        filters = None  # the transcript is still shown; only the view's neighbours are not
    with store.engine.connect() as conn:
        record = queries.attempt(conn, run_id, attempt_id)
        if record is None:
            return not_found(request, f"attempt {attempt_id} of run {run_id}")
        verdicts = queries.attempt_verdicts(conn, run_id, attempt_id)
        labels = queries.attempt_labels(conn, run_id, attempt_id)
        calls = queries.attempt_calls(conn, run_id, attempt_id)
        before = after = position = None
        if filters is not None:
            before, after, position = queries.neighbours(conn, run_id, filters, attempt_id)
    document = record["transcript"]

    def on_page(where: int) -> dict[str, str]:
        if filters is None:
            return {}
        return view_params(filters, (where - 1) // filters.per_page + 1)

    def link(other: str | None, where: int) -> str | None:
        if other is None:
            return None
        target = request.app.url_path_for("transcript", run_id=run_id, attempt_id=other)
        params = on_page(where)
        return str(target) + ("?" + urlencode(params) if params else "")

    back = (
        on_page(position)
        if position is not None
        else (filters.params() if filters is not None else {})
    )
    for verdict in verdicts:
        verdict["outcome_name"] = OUTCOME_NAMES.get(verdict["outcome"], verdict["outcome"])
        verdict["reading"] = refusal_reading(verdict["refused"], verdict["partial"])
        verdict["rationale"] = shown(verdict["rationale"])
        verdict["raw"] = shown(verdict["raw"]) if verdict["raw"] else None
    for call in calls:
        call["error"] = shown(call["error"]) if call["error"] else None
    for label in labels:
        label["note"] = shown(label["note"]) if label["note"] else None
    messages = [
        {"role": shown(m.get("role", "?")), "content": shown(m.get("content", ""))}
        for m in document.get("messages") or []
        if isinstance(m, dict)
    ]
    tool_calls = [
        {
            "name": shown(str(c.get("name", "?"))),
            "arguments": _json(c.get("arguments")),
            "result": shown(str(c.get("result") or "")),
        }
        for c in document.get("tool_calls") or []
        if isinstance(c, dict)
    ]
    scenario = document.get("scenario")
    return page(
        request,
        "transcript.html.j2",
        run=run,
        tool_calls=tool_calls,
        scenario=_json(scenario) if isinstance(scenario, dict) else None,
        attempt=record,
        goal=shown(document.get("goal", "")),
        messages=messages,
        meta=meta_sections(document.get("meta")),
        error=shown(record["error"]) if record["error"] else None,
        verdicts=verdicts,
        shown_judge=filters.judge if filters is not None else None,
        labels=labels,
        calls=calls,
        target_calls=[c for c in calls if c["role"] == "target"],
        before=link(before, (position or 1) - 1),
        after=link(after, (position or 0) + 1),
        position=position,
        back=str(request.app.url_path_for("attempts", run_id=run_id))
        + ("?" + urlencode(back) if back else ""),
        filters=filters,
    )


routes: list[BaseRoute] = [
    Route("/runs/{run_id}/attempts", explorer, name="attempts"),
    Route("/runs/{run_id}/attempts/{attempt_id}", transcript, name="transcript"),
]
