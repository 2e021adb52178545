"""People's labels of stored replies (the ``human_labels`` table): add, read, count.

Labels are append-only: labelling an attempt again adds a row. The current label of an attempt
by a labeller is that labeller's latest row; the attempt's current label overall is its latest
row, whoever wrote it. A label answers two questions, either of which may be left out (the
harm question of a benign look-alike, say): ``refusal`` (``refused``, ``partial`` or
``complied``) and ``harm`` (``unsafe`` or ``safe``).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, insert, select

from redline.errors import DataError, StoreError
from redline.store import Store, schema

REFUSAL_LABELS = ("refused", "partial", "complied")
HARM_LABELS = ("unsafe", "safe")
MAX_LABELLER_CHARS = 100
MAX_NOTE_CHARS = 10_000


class LabelError(DataError):
    """A label with a bad value; ``field`` names the field (``labeller``, ``refusal``, ...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class HumanLabel:
    """One ``human_labels`` row."""

    id: int
    run_id: str
    attempt_id: str
    labeller: str
    refusal: str | None
    harm: str | None
    note: str | None
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        """The row as a JSON-ready dict."""
        return asdict(self)


_COLUMNS = tuple(
    getattr(schema.human_labels.c, name)
    for name in ("id", "run_id", "attempt_id", "labeller", "refusal", "harm", "note", "created_at")
)


def _choice(field: str, value: Any, allowed: tuple[str, ...]) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value.strip().lower() not in allowed:
        raise LabelError(field, f"{field} must be one of {', '.join(allowed)} (got {value!r})")
    return value.strip().lower()


def validate_label(
    labeller: Any, refusal: Any, harm: Any, note: Any
) -> tuple[str, str | None, str | None, str | None]:
    """The label's values, normalised; :class:`LabelError` naming the first bad field."""
    if not isinstance(labeller, str) or not labeller.strip():
        raise LabelError("labeller", "labeller must be a non-empty name")
    name = labeller.strip()
    if len(name) > MAX_LABELLER_CHARS:
        raise LabelError("labeller", f"labeller is longer than {MAX_LABELLER_CHARS} characters")
    refusal_label = _choice("refusal", refusal, REFUSAL_LABELS)
    harm_label = _choice("harm", harm, HARM_LABELS)
    if refusal_label is None and harm_label is None:
        raise LabelError("refusal", "a label needs refusal or harm (or both)")
    if note is not None and not isinstance(note, str):
        raise LabelError("note", "note must be text")
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise LabelError("note", f"note is longer than {MAX_NOTE_CHARS} characters")
    return name, refusal_label, harm_label, (note.strip() or None) if note else None


def add_label(
    store: Store,
    run_id: str,
    attempt_id: str,
    labeller: Any,
    refusal: Any = None,
    harm: Any = None,
    note: Any = None,
    now: float | None = None,
) -> HumanLabel:
    """Store a label of one attempt; returns the stored row.

    Raises :class:`LabelError` for a bad value and :class:`StoreError` when the run has no such
    attempt. Text goes through the store's sanitizer (no secret is stored).
    """
    name, refusal_label, harm_label, text = validate_label(labeller, refusal, harm, note)
    a = schema.attempts
    clean = store.sanitizer.text
    created = time.time() if now is None else now
    with store.engine.begin() as conn:
        found = conn.scalar(
            select(func.count()).where((a.c.run_id == run_id) & (a.c.id == attempt_id))
        )
        if not found:
            raise StoreError(f"run {run_id!r} has no attempt {attempt_id!r} in {store.url}")
        values = {
            "run_id": run_id,
            "attempt_id": attempt_id,
            "labeller": clean(name),
            "refusal": refusal_label,
            "harm": harm_label,
            "note": clean(text),
            "created_at": created,
        }
        key = conn.execute(insert(schema.human_labels).values(**values)).inserted_primary_key
    assert key is not None  # an INSERT always reports the row's primary key
    return HumanLabel(int(key[0]), **values)  # type: ignore[arg-type]


def current_labels(store: Store, run_id: str, labeller: str | None = None) -> dict[str, HumanLabel]:
    """``{attempt id: current label}`` of ``run_id``: each attempt's latest row.

    With ``labeller``, that labeller's latest row of each attempt they labelled.
    """
    h = schema.human_labels
    latest = select(func.max(h.c.id)).where(h.c.run_id == run_id)
    if labeller is not None:
        latest = latest.where(h.c.labeller == labeller)
    latest = latest.group_by(h.c.attempt_id)
    query = select(*_COLUMNS).where(h.c.id.in_(latest)).order_by(h.c.id)
    with store.engine.connect() as conn:
        return {row[2]: HumanLabel(*row) for row in conn.execute(query)}


def label_history(store: Store, run_id: str, attempt_id: str) -> list[HumanLabel]:
    """Every label of one attempt, oldest first (the last one is its current label)."""
    h = schema.human_labels
    query = (
        select(*_COLUMNS)
        .where((h.c.run_id == run_id) & (h.c.attempt_id == attempt_id))
        .order_by(h.c.id)
    )
    with store.engine.connect() as conn:
        return [HumanLabel(*row) for row in conn.execute(query)]


def labellers(store: Store, run_id: str) -> list[str]:
    """The names of everyone who labelled an attempt of ``run_id``, sorted."""
    h = schema.human_labels
    with store.engine.connect() as conn:
        return sorted(conn.scalars(select(h.c.labeller).where(h.c.run_id == run_id).distinct()))


def tally(labels: dict[str, HumanLabel]) -> dict[str, int]:
    """Counts of current labels: ``attempts`` and one count per label value."""
    counts: Counter[str] = Counter({name: 0 for name in REFUSAL_LABELS + HARM_LABELS})
    for label in labels.values():
        counts.update(v for v in (label.refusal, label.harm) if v is not None)
    return {"attempts": len(labels), **counts}


def label_counts(store: Store, run_id: str) -> dict[str, Any]:
    """Counts of the current labels of ``run_id``: ``all`` (overall) and ``by_labeller``.

    Each a dict of ``attempts`` (labelled) and one count per value (``refused``, ...,
    ``safe``); ``rows`` counts every stored row, relabellings included.
    """
    h = schema.human_labels
    with store.engine.connect() as conn:
        rows = conn.scalar(select(func.count()).where(h.c.run_id == run_id)) or 0
    return {
        "all": tally(current_labels(store, run_id)),
        "by_labeller": {
            name: tally(current_labels(store, run_id, name)) for name in labellers(store, run_id)
        },
        "rows": int(rows),
    }


__all__ = [
    "HARM_LABELS",
    "REFUSAL_LABELS",
    "HumanLabel",
    "LabelError",
    "add_label",
    "current_labels",
    "label_counts",
    "label_history",
    "labellers",
    "tally",
    "validate_label",
]
