"""Typed read models: what :class:`~redline.store.Store` returns for stored attempts.

Frozen dataclasses with slots, built positionally from the row tuples of one query each (the
field order is the ``select`` order in the store), so reading 100,000 attempts for a summary
costs no dict per row. Field names are the column names of ``schema``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class StoredAttempt:
    """One stored attempt (an ``attempts`` row), its transcript decoded.

    ``transcript`` is the stored document: ``messages`` (each ``role`` and ``content``),
    ``goal``, and ``meta`` when the attack recorded any.
    """

    run_id: str
    id: str
    idx: int
    behavior_id: str
    category: str
    benign: bool
    attack: str
    repeat: int
    seed: int
    transcript: dict[str, Any]
    error: str | None
    target_calls: int
    started_at: float
    ended_at: float


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    """One verdict on one stored attempt, with what the figures group it by.

    ``refused`` is ``None`` when the judge does not read refusal; ``partial`` (a partial
    refusal) is ``None`` when the judge does not tell partial refusals apart.
    """

    id: str
    category: str
    attack: str
    benign: bool
    target_calls: int
    judge: str
    outcome: str
    refused: bool | None
    partial: bool | None


__all__ = ["OutcomeRow", "StoredAttempt"]
