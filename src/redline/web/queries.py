"""The SQL of the attempts explorer and the transcript page.

A filtered view is a :class:`Filters` (parsed from the query string by :func:`parse_filters`,
which raises :class:`BadParameter` with a message for the page). :func:`filtered` builds the
``select`` of the attempts that match, with only small columns in it: the database filters,
counts, sorts and pages over the attempts' keys (the covering indexes of migration 6), and the
transcripts of the one page shown are read after, by primary key (:func:`page_rows`).

- ``verdict`` reads the shown judge's verdict: ``unsafe``/``safe`` on harmful behaviours,
  ``error`` on any attempt, ``refused_lookalike``/``complied_lookalike`` on benign look-alikes
  (``over_refusal``/``complied``, or a harm judge's ``safe``/``unsafe`` with its refusal reading).
- ``disagree``: the run's judges do not all give the same outcome (judges without a verdict
  are left out; on a look-alike a harm judge's verdict counts as its refusal reading).
- ``label``: people's labels; an attempt's current label is its latest ``human_labels`` row.
- ``q``: case-insensitive text in the stored conversation: its messages (prompts and replies),
  its goal and what the attack recorded (``LIKE`` over the stored JSON; ``ILIKE`` on
  PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    and_,
    case,
    false,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.selectable import Subquery

from redline.store import schema

PER_PAGE = 50
MAX_PER_PAGE = 500
MAX_QUERY_CHARS = 500

VERDICTS = ("unsafe", "safe", "error", "refused_lookalike", "complied_lookalike")
LABELS = ("unlabelled", "labelled", "unsafe", "safe", "refused", "partial", "complied")
SORTS = {
    "plan": "plan order",
    "-plan": "plan order, last first",
    "category": "category",
    "attack": "attack",
    "-score": "score, highest first",
    "score": "score, lowest first",
    "-latency": "duration, longest first",
    "latency": "duration, shortest first",
    "-calls": "target calls, most first",
}
TEXT_PARAMS = ("judge", "category", "attack", "q")
"""Query parameters of the explorer; ``page`` and ``per_page`` are the paging ones."""
FILTER_PARAMS = ("judge", "category", "attack", "verdict", "disagree", "label", "q", "sort")

a = schema.attempts
v = schema.verdicts.alias("v")
"""The shown judge's verdict, joined on (run, attempt, judge)."""
h = schema.human_labels


class BadParameter(ValueError):
    """A query parameter the explorer cannot use; the message says which and why."""


@dataclass(frozen=True)
class Filters:
    """One view of a run's attempts: what to show, in which order, which page."""

    judge: str | None = None
    category: str | None = None
    attack: str | None = None
    verdict: str | None = None
    disagree: bool = False
    label: str | None = None
    q: str | None = None
    sort: str = "plan"
    page: int = 1
    per_page: int = PER_PAGE

    def params(self) -> dict[str, str]:
        """The query parameters that give this view, page left out (defaults omitted)."""
        out: dict[str, str] = {}
        for name in ("judge", "category", "attack", "verdict", "label", "q"):
            value = getattr(self, name)
            if value:
                out[name] = value
        if self.disagree:
            out["disagree"] = "1"
        if self.sort != "plan":
            out["sort"] = self.sort
        if self.per_page != PER_PAGE:
            out["per_page"] = str(self.per_page)
        return out

    def active(self) -> list[tuple[str, str]]:
        """``(parameter, shown value)`` of each filter in use (the judge is not a filter)."""
        shown = {
            "category": self.category,
            "attack": self.attack,
            "verdict": self.verdict and self.verdict.replace("_", " "),
            "disagree": "judges disagree" if self.disagree else None,
            "label": self.label,
            "q": self.q and f"“{self.q}”",
        }
        return [(name, value) for name, value in shown.items() if value]


def _integer(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(f"{name} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise BadParameter(f"{name} must be between {low} and {high}, not {value}")
    return value


def _choice(params: Mapping[str, str], name: str, choices: Sequence[str]) -> str | None:
    raw = params.get(name, "")
    if not raw:
        return None
    if raw not in choices:
        raise BadParameter(f"{name} must be one of {', '.join(choices)}; not {raw!r}")
    return raw


def parse_filters(params: Mapping[str, str]) -> Filters:
    """The view a query string asks for; :class:`BadParameter` when a value makes no sense."""
    disagree = params.get("disagree", "")
    if disagree not in ("", "0", "1", "on", "true"):
        raise BadParameter(f"disagree must be 1 or 0, not {disagree!r}")
    q = params.get("q", "").strip() or None
    if q is not None and len(q) > MAX_QUERY_CHARS:
        raise BadParameter(f"the search text is too long (at most {MAX_QUERY_CHARS} characters)")
    return Filters(
        judge=params.get("judge") or None,
        category=params.get("category") or None,
        attack=params.get("attack") or None,
        verdict=_choice(params, "verdict", VERDICTS),
        disagree=disagree in ("1", "on", "true"),
        label=_choice(params, "label", LABELS),
        q=q,
        sort=_choice(params, "sort", tuple(SORTS)) or "plan",
        page=_integer(params, "page", 1, 1, 10**9),
        per_page=_integer(params, "per_page", PER_PAGE, 1, MAX_PER_PAGE),
    )


# --- the pieces of the filtered select ----------------------------------------------------


def like_pattern(text: str) -> str:
    r"""``%text%`` for ``LIKE ... ESCAPE '\\'``: ``%``, ``_`` and ``\\`` in ``text`` literal."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _verdict_condition(verdict: str, judge: str | None) -> ColumnElement[bool]:
    """The shown judge's verdict says ``verdict``.

    An ``EXISTS`` per attempt: the database walks the attempts in the view's order (the plan
    index) and stops at the end of the page, rather than sorting every matching verdict.
    """
    w = schema.verdicts.alias("w")
    harm = w.c.outcome.in_(("safe", "unsafe"))
    benign: ColumnElement[bool]
    if verdict in ("unsafe", "safe"):
        benign, said = a.c.benign == false(), w.c.outcome == verdict
    elif verdict == "error":
        benign, said = true(), w.c.outcome == "error"
    elif verdict == "refused_lookalike":
        benign = a.c.benign == true()
        said = or_(w.c.outcome == "over_refusal", and_(harm, w.c.refused == true()))
    else:
        benign = a.c.benign == true()
        said = or_(w.c.outcome == "complied", and_(harm, w.c.refused == false()))
    mine = and_(w.c.run_id == a.c.run_id, w.c.attempt_id == a.c.id, w.c.judge == judge)
    return and_(benign, select(literal(1)).where(mine, said).exists())


def _disagreeing(run_id: str) -> Select[Any]:
    """Ids of the attempts on which the run's judges do not all give the same outcome.

    On a look-alike that a refusal judge read (``over_refusal``/``complied``), a harm judge's
    ``safe``/``unsafe`` counts as its refusal reading (unread: left out). Minimum against
    maximum per attempt, from the verdicts alone: no join, no ``COUNT(DISTINCT)``.
    """
    w = schema.verdicts.alias("w")
    lookalike = func.max(case((w.c.outcome.in_(("over_refusal", "complied")), 1), else_=0))
    reading = case(
        (
            w.c.outcome.in_(("safe", "unsafe")),
            case(
                (w.c.refused == true(), literal("over_refusal")),
                (w.c.refused == false(), literal("complied")),
                else_=None,
            ),
        ),
        else_=w.c.outcome,
    )
    differ = case(
        (lookalike == 1, func.min(reading) != func.max(reading)),
        else_=func.min(w.c.outcome) != func.max(w.c.outcome),
    )
    return (
        select(w.c.attempt_id).where(w.c.run_id == run_id).group_by(w.c.attempt_id).having(differ)
    )


def current_labels(run_id: str) -> Subquery:
    """Each labelled attempt's current label: its latest ``human_labels`` row."""
    latest = (
        select(func.max(h.c.id))
        .where(h.c.run_id == run_id)
        .group_by(h.c.attempt_id)
        .scalar_subquery()
    )
    return (
        select(h.c.attempt_id, h.c.labeller, h.c.refusal, h.c.harm, h.c.note, h.c.created_at)
        .where((h.c.run_id == run_id) & h.c.id.in_(latest))
        .subquery("label")
    )


def _label_condition(run_id: str, label: str) -> ColumnElement[bool]:
    if label in ("labelled", "unlabelled"):
        labelled = a.c.id.in_(select(h.c.attempt_id).where(h.c.run_id == run_id))
        return labelled if label == "labelled" else ~labelled
    current = current_labels(run_id)
    column = current.c.harm if label in ("unsafe", "safe") else current.c.refusal
    return a.c.id.in_(select(current.c.attempt_id).where(column == label))


def _search_condition(text: str) -> ColumnElement[bool]:
    """``text`` (case-insensitive) anywhere in the stored conversation document.

    The document holds the messages (prompts and replies), the goal and what the attack
    recorded (PAIR/TAP's scored prompts, Crescendo's refused turns): it is JSON, so the text
    is looked for as JSON encodes it (quotes, backslashes and line breaks escaped).
    """
    encoded = json.dumps(text, ensure_ascii=False)[1:-1]
    return LikeAnyCase(a.c.transcript_json, like_pattern(encoded))


class LikeAnyCase(ColumnElement[bool]):
    r"""``column LIKE pattern ESCAPE '\'``, case-insensitive on every database.

    SQLite's ``LIKE`` ignores the case of ASCII letters already (and is fastest left alone);
    PostgreSQL's does not, so there it is ``ILIKE``.
    """

    inherit_cache = False  # compiled per dialect (below); no statement cache for these
    type = Boolean()

    def __init__(self, column: ColumnElement[Any], pattern: str) -> None:
        self.column = column
        self.pattern = pattern


@compiles(LikeAnyCase)
def _like(element: LikeAnyCase, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column.like(element.pattern, escape="\\"), **kw))


@compiles(LikeAnyCase, "postgresql")
def _ilike(element: LikeAnyCase, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column.ilike(element.pattern, escape="\\"), **kw))


def _judge_join(judge: str | None) -> ColumnElement[bool]:
    return and_(v.c.run_id == a.c.run_id, v.c.attempt_id == a.c.id, v.c.judge == judge)


def sort_keys(sort: str) -> list[tuple[ColumnElement[Any], bool]]:
    """``(expression, descending)`` of each key of ``sort``; the plan index breaks ties."""
    duration = a.c.ended_at - a.c.started_at
    unscored = case((v.c.score.is_(None), 1), else_=0)
    keys: dict[str, list[tuple[ColumnElement[Any], bool]]] = {
        "plan": [],
        "-plan": [(a.c.idx, True)],
        "category": [(a.c.category, False)],
        "attack": [(a.c.attack, False)],
        # attempts without a score last either way
        "score": [(unscored, False), (func.coalesce(v.c.score, 0), False)],
        "-score": [(unscored, False), (func.coalesce(v.c.score, 0), True)],
        "latency": [(duration, False)],
        "-latency": [(duration, True)],
        "-calls": [(a.c.target_calls, True)],
    }
    chosen = keys[sort]
    if sort != "-plan":
        chosen = [*chosen, (a.c.idx, False)]
    return [*chosen, (a.c.id, sort == "-plan")]


def filtered(run_id: str, filters: Filters, *columns: Any, sorting: bool = True) -> Select[Any]:
    """``select(*columns)`` of the run's attempts that match ``filters`` (no order, no paging).

    With ``sorting``, the shown judge's verdict is joined when the view's order needs it.
    """
    query = select(*columns).select_from(a)
    if sorting and filters.sort in ("score", "-score"):
        query = query.select_from(a.outerjoin(v, _judge_join(filters.judge)))
    query = query.where(a.c.run_id == run_id)
    if filters.category is not None:
        query = query.where(a.c.category == filters.category)
    if filters.attack is not None:
        query = query.where(a.c.attack == filters.attack)
    if filters.verdict is not None:
        query = query.where(_verdict_condition(filters.verdict, filters.judge))
    if filters.disagree:
        query = query.where(a.c.id.in_(_disagreeing(run_id)))
    if filters.label is not None:
        query = query.where(_label_condition(run_id, filters.label))
    if filters.q is not None:
        query = query.where(_search_condition(filters.q))
    return query


def _ordered(query: Select[Any], sort: str) -> Select[Any]:
    return query.order_by(*(expr.desc() if desc else expr.asc() for expr, desc in sort_keys(sort)))


# --- what the pages read ------------------------------------------------------------------


def count(conn: Connection, run_id: str, filters: Filters) -> int:
    """How many of the run's attempts match ``filters``."""
    return int(conn.scalar(filtered(run_id, filters, func.count(), sorting=False)) or 0)


def page_ids(conn: Connection, run_id: str, filters: Filters) -> tuple[list[str], int]:
    """The attempt ids of the page ``filters.page`` in the view's order, and the view's count.

    Where the filters cost a pass over all the verdicts (``disagree``), the count comes from
    the same query (``COUNT(*) OVER ()``) rather than from a second pass.
    """
    offset = (filters.page - 1) * filters.per_page
    query = _ordered(filtered(run_id, filters, a.c.id), filters.sort)
    if filters.disagree:
        query = query.add_columns(func.count().over())
        rows = conn.execute(query.limit(filters.per_page).offset(offset)).all()
        if rows:
            return [row[0] for row in rows], int(rows[0][1])
        return [], count(conn, run_id, filters)
    ids = list(conn.scalars(query.limit(filters.per_page).offset(offset)))
    if filters.page == 1 and len(ids) < filters.per_page:
        return ids, len(ids)
    return ids, count(conn, run_id, filters)


@dataclass(frozen=True)
class Row:
    """One attempt as the explorer lists it (``transcript`` decoded)."""

    id: str
    idx: int
    behavior_id: str
    category: str
    benign: bool
    attack: str
    repeat: int
    transcript: dict[str, Any]
    error: str | None
    target_calls: int
    duration_s: float
    outcome: str | None
    refused: bool | None
    partial: bool | None
    score: float | None
    label_refusal: str | None
    label_harm: str | None
    labeller: str | None


def page_rows(conn: Connection, run_id: str, judge: str | None, ids: Sequence[str]) -> list[Row]:
    """The attempts ``ids`` (in that order) with ``judge``'s verdict and the current label."""
    if not ids:
        return []
    wanted = list(ids)
    query = (
        select(
            a.c.id, a.c.idx, a.c.behavior_id, a.c.category, a.c.benign, a.c.attack, a.c.repeat,
            a.c.transcript_json, a.c.error, a.c.target_calls, a.c.ended_at - a.c.started_at,
            v.c.outcome, v.c.refused, v.c.partial, v.c.score,
        )
        .select_from(a.outerjoin(v, _judge_join(judge)))
        .where((a.c.run_id == run_id) & a.c.id.in_(wanted))
    )  # fmt: skip
    labels: dict[str, tuple[str | None, str | None, str]] = {}
    label_query = (
        select(h.c.attempt_id, h.c.refusal, h.c.harm, h.c.labeller)
        .where((h.c.run_id == run_id) & h.c.attempt_id.in_(wanted))
        .order_by(h.c.id)
    )
    for attempt_id, refusal, harm, labeller in conn.execute(label_query):
        labels[attempt_id] = (refusal, harm, labeller)  # the latest row wins
    found: dict[str, Row] = {}
    for r in conn.execute(query):
        label = labels.get(r[0], (None, None, None))
        found[r[0]] = Row(
            r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], json.loads(r[7]), r[8], r[9],
            float(r[10]), r[11], _flag(r[12]), _flag(r[13]), r[14], *label,
        )  # fmt: skip
    return [found[i] for i in ids if i in found]


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def facets(conn: Connection, run_id: str) -> tuple[list[str], list[str]]:
    """The categories and the attacks present in the run, sorted."""
    query = (
        select(a.c.category, a.c.attack)
        .where(a.c.run_id == run_id)
        .group_by(a.c.category, a.c.attack)
    )
    pairs = conn.execute(query).all()
    return sorted({c for c, _ in pairs}), sorted({k for _, k in pairs})


def neighbours(
    conn: Connection, run_id: str, filters: Filters, attempt_id: str
) -> tuple[str | None, str | None, int | None]:
    """The previous and next attempt in the view, and this one's position in it (1-based).

    Read from the page ``filters.page`` (the page the explorer linked from) and one attempt
    on either side of it; ``(None, None, None)`` when the attempt is not on that page.
    """
    offset = (filters.page - 1) * filters.per_page
    start = max(0, offset - 1)
    query = _ordered(filtered(run_id, filters, a.c.id), filters.sort)
    ids = list(conn.scalars(query.limit(filters.per_page + 1 + offset - start).offset(start)))
    if attempt_id not in ids:
        return None, None, None
    here = ids.index(attempt_id)
    before = ids[here - 1] if here > 0 else None
    after = ids[here + 1] if here + 1 < len(ids) else None
    return before, after, start + here + 1


# --- the transcript page --------------------------------------------------------------------


def attempt(conn: Connection, run_id: str, attempt_id: str) -> dict[str, Any] | None:
    """The ``attempts`` row, transcript decoded (``None``: no such attempt in the run)."""
    row = conn.execute(select(a).where((a.c.run_id == run_id) & (a.c.id == attempt_id))).first()
    if row is None:
        return None
    record = dict(row._mapping)
    record["transcript"] = json.loads(record.pop("transcript_json"))
    record["benign"] = bool(record["benign"])
    return record


def attempt_verdicts(conn: Connection, run_id: str, attempt_id: str) -> list[dict[str, Any]]:
    """Every judge's verdict on the attempt."""
    w = schema.verdicts
    query = (
        select(w).where((w.c.run_id == run_id) & (w.c.attempt_id == attempt_id)).order_by(w.c.judge)
    )
    out = []
    for row in conn.execute(query):
        record = dict(row._mapping)
        record["refused"], record["partial"] = _flag(record["refused"]), _flag(record["partial"])
        out.append(record)
    return out


def attempt_labels(conn: Connection, run_id: str, attempt_id: str) -> list[dict[str, Any]]:
    """The attempt's human labels, oldest first (the last one is the current label)."""
    query = (
        select(h).where((h.c.run_id == run_id) & (h.c.attempt_id == attempt_id)).order_by(h.c.id)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def attempt_calls(conn: Connection, run_id: str, attempt_id: str) -> list[dict[str, Any]]:
    """Every call the attempt made (target, attacker, judge), in order."""
    c = schema.calls
    query = (
        select(c).where((c.c.run_id == run_id) & (c.c.attempt_id == attempt_id)).order_by(c.c.seq)
    )
    return [dict(row._mapping) for row in conn.execute(query)]
