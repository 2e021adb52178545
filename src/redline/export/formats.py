"""The export formats, built from :class:`~redline.export.examples.Example` rows.

Field names follow what the libraries read: TRL's ``SFTTrainer`` takes conversational
``messages``; its ``DPOTrainer`` takes ``prompt`` (the conversation so far) with ``chosen`` and
``rejected`` (each a list holding the assistant message). Every row also carries where it came
from (``attempt_id``, ``behavior_id``, ``category``, ``benign``, ``attack``, ``source``).

Rows that need an answer nobody has written yet (a look-alike the target refused and never
answered) are returned apart, as ``to_write``: they are never exported with an empty answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from redline.export.examples import Example
from redline.export.refusals import refusal_for
from redline.report.text import redacted

FORMATS = ("sft", "dpo", "guard", "jsonl")


@dataclass
class Built:
    """An export's rows and the rows still waiting for a written answer."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    to_write: list[dict[str, Any]] = field(default_factory=list)


def _meta(example: Example, source: str) -> dict[str, Any]:
    return {
        "attempt_id": example.attempt_id,
        "behavior_id": example.behavior_id,
        "category": example.category,
        "benign": example.benign,
        "attack": example.attack,
        "label_source": example.label_source,
        "source": source,
    }


def _assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def _helpful(example: Example) -> bool:
    """A look-alike the target answered, and no one found harmful."""
    return example.benign and example.refusal == "complied" and example.harm != "unsafe"


def _to_write(example: Example) -> dict[str, Any]:
    return {"messages": example.conversation, **_meta(example, "needs_helpful_answer")}


def _helpful_answers(examples: list[Example]) -> dict[str, list[Example]]:
    answers: dict[str, list[Example]] = {}
    for example in examples:
        if _helpful(example):
            answers.setdefault(example.behavior_id, []).append(example)
    return answers


def _answer_for(example: Example, answers: dict[str, list[Example]]) -> Example | None:
    """The target's helpful answer to the same look-alike: same prompt first, else any attack."""
    candidates = answers.get(example.behavior_id, [])
    for candidate in candidates:
        if candidate.prompt == example.prompt:
            return candidate
    return candidates[0] if candidates else None


def sft(examples: Iterable[Example]) -> Built:
    """Refusals for unsafe attempts; helpful answers for look-alikes.

    An unsafe attempt's prompt is paired with a team-written refusal for its category (see
    :mod:`redline.export.refusals`), never with the harmful reply. A look-alike is paired with
    the target's own answer when it complied and nobody found the answer harmful; a refused
    look-alike goes to ``to_write``.
    """
    built = Built()
    for example in examples:
        if not example.benign and example.harm == "unsafe":
            refusal = refusal_for(example.category, example.attempt_id)
            built.rows.append(
                {
                    "messages": [*example.conversation, _assistant(refusal)],
                    **_meta(example, "team_refusal"),
                }
            )
        elif _helpful(example):
            built.rows.append(
                {
                    "messages": [*example.conversation, _assistant(example.reply)],
                    **_meta(example, "target_reply"),
                }
            )
        elif example.benign and example.refusal == "refused":
            built.to_write.append(_to_write(example))
    return built


def dpo(examples: Iterable[Example], *, redact: bool = False) -> Built:
    """Preference pairs: refusal over unsafe reply; helpful answer over over-refusal.

    Harmful pairs: chosen a team-written refusal, rejected the target's unsafe reply (replaced
    by a marker with ``redact``). Benign pairs: chosen the target's helpful answer to the same
    look-alike (the same prompt when there is one, else another attack's), rejected its
    over-refusal; without a helpful answer the pair goes to ``to_write``.
    """
    examples = list(examples)
    answers = _helpful_answers(examples)
    built = Built()
    for example in examples:
        if not example.benign and example.harm == "unsafe":
            refusal = refusal_for(example.category, example.attempt_id)
            rejected = redacted(example.reply) if redact else example.reply
            built.rows.append(
                {
                    "prompt": example.conversation,
                    "chosen": [_assistant(refusal)],
                    "rejected": [_assistant(rejected)],
                    **_meta(example, "team_refusal_vs_unsafe_reply"),
                    "chosen_from": None,
                }
            )
        elif example.benign and example.refusal == "refused":
            answer = _answer_for(example, answers)
            if answer is None:
                built.to_write.append(_to_write(example))
                continue
            built.rows.append(
                {
                    "prompt": example.conversation,
                    "chosen": [_assistant(answer.reply)],
                    "rejected": [_assistant(example.reply)],
                    **_meta(example, "helpful_answer_vs_over_refusal"),
                    "chosen_from": answer.attempt_id,
                }
            )
    return built


def guard(examples: Iterable[Example], *, redact: bool = False) -> Built:
    """(prompt, reply, label, category) rows: every reply with a harm reading."""
    built = Built()
    for example in examples:
        if example.harm is None:
            continue
        reply = redacted(example.reply) if redact and example.harm == "unsafe" else example.reply
        built.rows.append(
            {
                "prompt": example.prompt,
                "reply": reply,
                "label": example.harm,
                "refusal": example.refusal,
                **_meta(example, "judge" if example.label_source == "judge" else "human"),
            }
        )
    return built
