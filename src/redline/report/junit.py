"""JUnit XML for CI systems: one test case per harmful behaviour x attack (x repeat).

A case fails when its attempt was judged ``unsafe`` and errors when it ended in ``error``; the
benign look-alikes are not test cases (over-refusal is reported, not gated, here).

Every value from the run (category names, behaviour ids, rationales, error bodies) goes through
:func:`~redline.report.text.xml_text`, so the document is valid XML 1.0 whatever a target sent.

The document is written as text, in the form ``ElementTree.tostring`` gives after
``ElementTree.indent`` (attributes in the order set, two-space indentation, ``" />"`` for an
empty element; a test checks it against ElementTree): building 100,000 elements cost more than
the rest of the report. Only the transcripts of the failing cases are decoded (their goal).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from redline.report.text import xml_text
from redline.store import Store, fetch_rows, schema

_TEXT = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))
_ATTRIBUTE = (*_TEXT, ('"', "&quot;"), ("\r", "&#13;"), ("\n", "&#10;"), ("\t", "&#09;"))


def _escape(text: str, table: tuple[tuple[str, str], ...] = _TEXT) -> str:
    """``text`` escaped as ElementTree escapes text (or, with ``_ATTRIBUTE``, attributes).

    As ElementTree does it: a test of each character first (most values have none).
    """
    for char, entity in table:
        if char in text:
            text = text.replace(char, entity)
    return text


def _attr(value: str) -> str:
    """An attribute value escaped as ElementTree escapes it (after :func:`xml_text`)."""
    return _escape(xml_text(value), _ATTRIBUTE)


def render_junit(store: Store, summary: dict[str, Any]) -> str:
    """The run as a JUnit XML document (one ``testsuite`` per category)."""
    run_id, judge = summary["run_id"], summary["judge"]
    verdicts, rationales = _verdicts(store, run_id, judge)
    # one suite per category, in the order categories first occur; each its cases' lines
    suites: dict[str, list[str]] = {}
    counts: dict[str, list[int]] = {}  # category -> [failures, errors]
    for aid, behavior_id, category, attack, repeat, goal_json, error, started, ended in _cases(
        store, run_id
    ):
        lines = suites.get(category)
        if lines is None:
            lines = suites[category] = []
            counts[category] = [0, 0]
        name = f"{behavior_id} · {attack}"
        if repeat:
            name += f" · repeat {repeat}"
        case = (
            f'    <testcase classname="{_attr(f"redline.{category}")}" name="{_attr(name)}" '
            f'time="{ended - started:.3f}"'
        )
        outcome = verdicts.get(aid, "error")
        if outcome == "unsafe":
            counts[category][0] += 1
            reason = rationales.get(aid, "")
            goal = _escape(xml_text(json.loads(goal_json).get("goal", "")))
            message = _attr(f"unsafe ({judge}): {reason}")
            inner = f'<failure message="{message}" type="unsafe"'
            inner += f">{goal}</failure>" if goal else " />"
        elif outcome == "error":
            counts[category][1] += 1
            text = xml_text(error or rationales.get(aid, ""))
            inner = f'<error message="{_escape(text, _ATTRIBUTE)}" type="error"'
            inner += f">{_escape(text)}</error>" if text else " />"
        else:
            lines.append(case + " />")
            continue
        lines.append(f"{case}>\n      {inner}\n    </testcase>")
    head = f'<testsuites name="{_attr(f"redline run {run_id}")}"'
    if not suites:
        return f'<?xml version="1.0" encoding="utf-8"?>\n{head} />'
    parts = [f'<?xml version="1.0" encoding="utf-8"?>\n{head}>']
    for category, lines in suites.items():
        failures, errors = counts[category]
        parts.append(
            f'  <testsuite name="{_attr(category)}" tests="{len(lines)}" '
            f'failures="{failures}" errors="{errors}">'
        )
        parts.extend(lines)
        parts.append("  </testsuite>")
    parts.append("</testsuites>")
    return "\n".join(parts)


def _cases(store: Store, run_id: str) -> list[tuple[Any, ...]]:
    """The attempts on harmful behaviours, in plan order: what a test case shows.

    Read through the driver's cursor (:func:`~redline.store.fetch_rows`), the transcript left
    as its JSON text: only a failing case's is decoded.
    """
    a = schema.attempts
    query = (
        select(
            a.c.id,
            a.c.behavior_id,
            a.c.category,
            a.c.attack,
            a.c.repeat,
            a.c.transcript_json,
            a.c.error,
            a.c.started_at,
            a.c.ended_at,
        )
        .where((a.c.run_id == run_id) & a.c.benign.is_(False))
        .order_by(a.c.idx)
    )
    with store.engine.connect() as conn:
        return fetch_rows(conn, query)


def _verdicts(store: Store, run_id: str, judge: str) -> tuple[dict[str, str], dict[str, str]]:
    """``judge``'s outcome and rationale per attempt id: one query of the verdicts alone.

    Only the stored attempts' ids are looked up in them, so a verdict whose attempt is not
    stored (which :meth:`~redline.store.Store.outcomes` leaves out by its join) changes nothing.
    """
    v = schema.verdicts
    query = select(v.c.attempt_id, v.c.outcome, v.c.rationale).where(
        (v.c.run_id == run_id) & (v.c.judge == judge)
    )
    outcomes: dict[str, str] = {}
    rationales: dict[str, str] = {}
    with store.engine.connect() as conn:
        for aid, outcome, rationale in fetch_rows(conn, query):
            outcomes[aid] = outcome
            rationales[aid] = rationale
    return outcomes, rationales
