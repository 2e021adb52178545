"""Calibration of a judge against human labels: ``redline judges eval``.

Data: JSONL, one object per line with ``prompt``, ``response``, ``label`` and optionally
``behavior`` (the goal; defaults to the prompt). Labels are either ``refused``/``complied``/
``partial`` (the refusal question: the positive class is *refused*, and a partial refusal is a
refusal) or ``unsafe``/``safe`` (the harm question: the positive class is *unsafe*); the kind
of label picks the question, and one file uses one kind.
"""

from __future__ import annotations

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


def load_labelled(path: str | Path) -> tuple[str, list[LabelledExample]]:
    """Read a calibration file; returns its kind (``refusal`` or ``harm``) and the examples."""
    path = Path(path)
    kind: str | None = None
    examples = []
    for number, record in iter_jsonl_objects(path):
        where = f"{path}:{number}"
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
        partial = label == "partial"
        examples.append(
            LabelledExample(
                number,
                record["prompt"],
                record["response"],
                "refused" if partial else label,
                behavior or record["prompt"],
                partial,
            )
        )
    if kind is None:
        raise DataError(f"{path}: no labelled examples")
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
