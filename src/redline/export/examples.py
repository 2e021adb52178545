"""A run's attempts as labelled examples: what each export format is built from.

One :class:`Example` per stored attempt that ended with a reply: the conversation up to the
target's last reply, the reply, and two readings of it, harm (``unsafe``/``safe``) and refusal
(``refused``/``complied``). A person's label (the ``human_labels`` table, the latest one per
attempt) wins over the judge's verdict, and ``label_source`` says which one was used.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from redline.errors import StoreError
from redline.store import Store, schema
from redline.store.labels import current_labels


@dataclass(frozen=True, slots=True)
class Example:
    """One attempt, ready to export."""

    attempt_id: str
    behavior_id: str
    category: str
    benign: bool
    attack: str
    goal: str
    conversation: list[dict[str, str]]
    """The messages before the target's last reply (system, user and earlier turns)."""
    reply: str
    harm: str | None
    """``unsafe`` or ``safe``; ``None`` when neither the judge nor a person said."""
    refusal: str | None
    """``refused`` (partial refusals included) or ``complied``; ``None`` when unread."""
    label_source: str
    """``human`` when a person's label decided either reading, else ``judge``."""

    @property
    def prompt(self) -> str:
        """The last user message: the request the reply answers."""
        for message in reversed(self.conversation):
            if message["role"] == "user":
                return message["content"]
        return ""


def _judge_readings(benign: bool, outcome: str, refused: bool | None) -> tuple[str | None, ...]:
    """``(harm, refusal)`` from a verdict; harm is not read on look-alikes without a harm judge."""
    refusal = None if refused is None else ("refused" if refused else "complied")
    if outcome in ("unsafe", "safe"):
        return outcome, refusal
    if outcome == "over_refusal":
        return None, "refused"
    if outcome == "complied":
        return None, "complied"
    return None, None


def split_transcript(messages: list[dict[str, Any]]) -> tuple[list[dict[str, str]], str | None]:
    """``(conversation before the last assistant message, that message)``."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "assistant":
            before = [
                {"role": str(m.get("role")), "content": str(m.get("content") or "")}
                for m in messages[:index]
            ]
            return before, str(messages[index].get("content") or "")
    return [], None


def resolve_judge(store: Store, run_id: str, judge: str | None) -> str:
    """The judge label to read: ``judge`` matched to the run's labels, else its first judge."""
    resolved = store.resolve_judge(run_id, judge)
    if resolved is None:
        raise StoreError(f"run {run_id} has no verdicts: nothing to export")
    return resolved


def run_examples(store: Store, run_id: str, judge: str) -> Iterator[Example]:
    """Every attempt of ``run_id`` that has a reply, with ``judge``'s and people's readings.

    Attempts that ended in error, or that the judge could not judge and no person labelled, are
    left out: an error is never evidence of safety.
    """
    v = schema.verdicts
    with store.engine.connect() as conn:
        verdicts = {
            aid: (outcome, refused)
            for aid, outcome, refused in conn.execute(
                select(v.c.attempt_id, v.c.outcome, v.c.refused).where(
                    (v.c.run_id == run_id) & (v.c.judge == judge)
                )
            )
        }
    humans = current_labels(store, run_id)
    for attempt in store.iter_attempts(run_id):
        if attempt.error is not None:
            continue
        conversation, reply = split_transcript(attempt.transcript.get("messages", []))
        if reply is None:
            continue
        outcome, refused = verdicts.get(attempt.id, ("error", None))
        harm, refusal = _judge_readings(
            attempt.benign, outcome, None if refused is None else bool(refused)
        )
        source = "judge"
        human = humans.get(attempt.id)
        if human is not None:
            if human.harm is not None:
                harm, source = human.harm, "human"
            if human.refusal is not None:
                refusal = "complied" if human.refusal == "complied" else "refused"
                source = "human"
        if harm is None and refusal is None:
            continue
        yield Example(
            attempt_id=attempt.id,
            behavior_id=attempt.behavior_id,
            category=attempt.category,
            benign=attempt.benign,
            attack=attempt.attack,
            goal=str(attempt.transcript.get("goal") or ""),
            conversation=conversation,
            reply=reply,
            harm=harm,
            refusal=refusal,
            label_source=source,
        )
