"""Calibration of a judge against human labels: ``redline judges eval``.

Data: JSONL, one object per line with ``prompt``, ``response``, ``label`` and optionally
``behavior`` (the goal; defaults to the prompt), ``category``, ``benign`` (a benign look-alike:
the judge reads it as one) and ``messages`` (the whole conversation, ``role`` and ``content``
each, ending with the reply: the judge then reads it instead of prompt and response). Labels are
either ``refused``/``complied``/``partial`` (the refusal question: the positive class is
*refused*, and a partial refusal is a refusal) or ``unsafe``/``safe`` (the harm question: the
positive class is *unsafe*); the kind of label picks the question, and one file uses one kind.
Other keys are ignored (``redline labels export`` adds ``run_id``, ``attempt_id``, ``labeller``
and ``note``).

The same figures for a run's stored verdicts against its human labels (the web app's agreement
page): :func:`run_agreement`; a run's labels as such records: :func:`run_labelled_records`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redline.datafiles import iter_jsonl_objects
from redline.errors import DataError

LABEL_SETS = {
    "refused": "refusal",
    "complied": "refusal",
    "partial": "refusal",
    "unsafe": "harm",
    "safe": "harm",
}
POSITIVE = {"refusal": "refused", "harm": "unsafe"}
NEGATIVE = {"refusal": "complied", "harm": "safe"}


@dataclass(frozen=True, slots=True)
class LabelledExample:
    """One human-labelled response."""

    line: int
    prompt: str
    response: str
    label: str
    """``refused``, ``complied``, ``unsafe`` or ``safe`` (a ``partial`` label reads ``refused``)."""
    behavior: str
    partial: bool = False
    """Labelled ``partial``: a partial refusal."""
    category: str = "calibration"
    benign: bool = False
    messages: tuple[tuple[str, str], ...] = ()
    """The conversation as ``(role, content)`` pairs when the record gave one."""


def load_labelled(path: str | Path) -> tuple[str, list[LabelledExample]]:
    """Read a calibration file; returns its kind (``refusal`` or ``harm``) and the examples."""
    path = Path(path)
    return parse_labelled(iter_jsonl_objects(path), str(path))


def _messages(where: str, value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    problem = f"{where}: 'messages' must be a list of {{role, content}} ending with the reply"
    if not isinstance(value, list) or not value:
        raise DataError(problem)
    pairs = []
    for item in value:
        if (
            not isinstance(item, dict)
            or item.get("role") not in ("system", "user", "assistant")
            or not isinstance(item.get("content"), str)
        ):
            raise DataError(problem + " (role: system, user or assistant)")
        pairs.append((item["role"], item["content"]))
    if pairs[-1][0] != "assistant":
        raise DataError(problem)
    return tuple(pairs)


def parse_labelled(
    records: Iterable[tuple[int, dict[str, Any]]], source: str
) -> tuple[str, list[LabelledExample]]:
    """Labelled examples from ``(line number, record)`` pairs read from ``source``."""
    kind: str | None = None
    examples = []
    for number, record in records:
        where = f"{source}:{number}"
        for key in ("prompt", "response", "label"):
            if not isinstance(record.get(key), str):
                raise DataError(f"{where}: missing or non-string {key!r}")
        label = record["label"].strip().lower()
        if label not in LABEL_SETS:
            raise DataError(
                f"{where}: unknown label {record['label']!r} "
                "(use refused/complied/partial or unsafe/safe)"
            )
        if kind is None:
            kind = LABEL_SETS[label]
        elif LABEL_SETS[label] != kind:
            raise DataError(f"{where}: label {label!r} mixes harm and refusal labels in one file")
        behavior = record.get("behavior")
        if behavior is not None and not isinstance(behavior, str):
            raise DataError(f"{where}: 'behavior' must be a string (the goal), if given")
        category = record.get("category", "calibration")
        if not isinstance(category, str) or not category:
            raise DataError(f"{where}: 'category' must be a non-empty string, if given")
        benign = record.get("benign", False)
        if not isinstance(benign, bool):
            raise DataError(f"{where}: 'benign' must be true or false, if given")
        partial = label == "partial"
        examples.append(
            LabelledExample(
                number,
                record["prompt"],
                record["response"],
                "refused" if partial else label,
                behavior or record["prompt"],
                partial,
                category,
                benign,
                _messages(where, record.get("messages")),
            )
        )
    if kind is None:
        raise DataError(f"{source}: no labelled examples")
    return kind, examples


def agreement(kind: str, pairs: list[tuple[str, str | None]]) -> dict[str, Any]:
    """Agreement of predictions with labels: ``pairs`` of (label, prediction or None=error)."""
    positive = POSITIVE[kind]
    judged = [(truth, guess) for truth, guess in pairs if guess is not None]
    tp = sum(1 for t, g in judged if t == positive and g == positive)
    tn = sum(1 for t, g in judged if t != positive and g != positive)
    fp = sum(1 for t, g in judged if t != positive and g == positive)
    fn = sum(1 for t, g in judged if t == positive and g != positive)
    n = len(judged)

    def ratio(a: int, b: int) -> float | None:
        return a / b if b else None

    accuracy = ratio(tp + tn, n)
    expected = ((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp)) / (n * n) if n else None
    kappa = (
        (accuracy - expected) / (1 - expected)
        if accuracy is not None and expected is not None and expected < 1
        else None
    )
    negative = NEGATIVE[kind]
    return {
        "kind": kind,
        "positive": positive,
        "n": n,
        "errors": len(pairs) - n,
        "accuracy": accuracy,
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
        "sensitivity": ratio(tp, tp + fn),
        "specificity": ratio(tn, tn + fp),
        "positives": tp + fn,
        "negatives": tn + fp,
        "fpr": ratio(fp, fp + tn),
        "fnr": ratio(fn, fn + tp),
        "kappa": kappa,
        "confusion": {
            f"label={positive}": {f"judge={positive}": tp, f"judge={negative}": fn},
            f"label={negative}": {f"judge={positive}": fp, f"judge={negative}": tn},
        },
    }


def stored_prediction(kind: str, outcome: str, refused: bool | None) -> str | None:
    """The label a verdict predicts (``None`` for an error), from its outcome and refusal.

    For refusal labels the verdict's ``refused`` field is used; a judge that does not set it is
    read from its outcome (safe or over-refusal = refused, unsafe or complied = complied).
    """
    if outcome == "error":
        return None
    if kind == "refusal":
        if refused is None:
            refused = outcome in ("safe", "over_refusal")
        return "refused" if refused else "complied"
    return "unsafe" if outcome == "unsafe" else "safe"


def prompt_and_reply(messages: list[dict[str, Any]]) -> tuple[str, str] | None:
    """The last reply of a stored conversation and the user message it answers (or ``None``)."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "assistant":
            prompt = next(
                (m.get("content", "") for m in reversed(messages[:i]) if m.get("role") == "user"),
                "",
            )
            return str(prompt), str(messages[i].get("content", ""))
    return None


def run_labelled_records(
    store: Any, run_id: str, kind: str, labeller: str | None = None
) -> list[dict[str, Any]]:
    """The run's current human labels as labelled-file records (plan order), for ``kind``.

    ``harm``: harmful behaviours labelled unsafe/safe (the harm question of a benign look-alike
    is not asked); ``refusal``: every attempt labelled refused/partial/complied. With
    ``labeller``, that person's current labels only. Attempts without a reply are left out.
    """
    from redline.store.labels import current_labels

    if kind not in POSITIVE:
        raise DataError(f"unknown kind of label {kind!r} (use harm or refusal)")
    labels = current_labels(store, run_id, labeller)
    records = []
    for attempt in store.iter_attempts(run_id):
        label = labels.get(attempt.id)
        if label is None:
            continue
        value = label.harm if kind == "harm" else label.refusal
        if value is None or (kind == "harm" and attempt.benign):
            continue
        messages = attempt.transcript.get("messages") or []
        pair = prompt_and_reply(messages)
        if pair is None:
            continue
        prompt, reply = pair
        record: dict[str, Any] = {
            "prompt": prompt,
            "response": reply,
            "label": value,
            "behavior": attempt.transcript.get("goal") or prompt,
            "category": attempt.category,
            "benign": bool(attempt.benign),
        }
        conversation = [{"role": m.get("role"), "content": m.get("content")} for m in messages]
        while conversation and conversation[-1]["role"] != "assistant":
            conversation.pop()
        if [(m["role"], m["content"]) for m in conversation] != [
            ("user", prompt),
            ("assistant", reply),
        ]:
            record["messages"] = conversation
        record.update(
            run_id=run_id, attempt_id=attempt.id, labeller=label.labeller, note=label.note
        )
        records.append(record)
    return records


def records_jsonl(records: list[dict[str, Any]]) -> str:
    """Records as JSONL text (one object a line, keys in order, non-ASCII kept)."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def run_agreement(store: Any, run_id: str, judges: list[str]) -> dict[str, dict[str, Any]]:
    """Each judge's stored verdicts on ``run_id`` against the run's current human labels.

    ``{judge: {"harm": figures, "refusal": figures}}`` with the figures of :func:`agreement`:
    harm on harmful behaviours labelled unsafe/safe, refusal on every attempt labelled
    refused/partial (a refusal) or complied.
    """
    from sqlalchemy import select

    from redline.store import schema
    from redline.store.labels import current_labels

    labels = current_labels(store, run_id)
    a, v = schema.attempts, schema.verdicts
    # only the labelled attempts' verdicts, by key (two keyed queries; a join would make
    # SQLite scan the run's attempts): a few hundred rows, not the whole run
    verdicts: dict[str, list[tuple[str, bool, str, bool | None]]] = {j: [] for j in judges}
    ids = list(labels)
    with store.engine.connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            benign_of = dict(
                conn.execute(
                    select(a.c.id, a.c.benign).where((a.c.run_id == run_id) & a.c.id.in_(chunk))
                ).all()
            )
            query = select(v.c.attempt_id, v.c.judge, v.c.outcome, v.c.refused).where(
                (v.c.run_id == run_id) & v.c.attempt_id.in_(chunk)
            )
            for aid, judge, outcome, refused in conn.execute(query):
                if judge in verdicts and aid in benign_of:
                    verdicts[judge].append((aid, bool(benign_of[aid]), outcome, refused))
    result: dict[str, dict[str, Any]] = {}
    for judge in judges:
        pairs: dict[str, list[tuple[str, str | None]]] = {"harm": [], "refusal": []}
        for aid, benign, outcome, refused in verdicts[judge]:
            label = labels[aid]
            if label.harm is not None and not benign:
                pairs["harm"].append((label.harm, stored_prediction("harm", outcome, refused)))
            if label.refusal is not None:
                truth = "complied" if label.refusal == "complied" else "refused"
                pairs["refusal"].append((truth, stored_prediction("refusal", outcome, refused)))
        result[judge] = {kind: agreement(kind, found) for kind, found in pairs.items()}
    return result
