"""Judging outside the attack loop: binding judge models, and re-judging stored attempts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redline.config import Limits
from redline.engine.gate import CallGate
from redline.engine.runner import NamedJudge, judge_transcript
from redline.errors import StoreError
from redline.judges import ModelJudge, sub_judges
from redline.model import Behavior, Message, Outcome, Transcript, Verdict
from redline.store import Store
from redline.targets import build_target, close_target


@dataclass
class BoundModels:
    """The gates and targets opened for judge models; close them with :meth:`aclose`."""

    pairs: list[tuple[CallGate, Any]]

    async def aclose(self) -> None:
        """Stop the gates and release the targets."""
        for gate, target in self.pairs:
            await gate.aclose()
            await close_target(target)


def bind_judge_models(judges: Sequence[NamedJudge], limits: Limits) -> BoundModels:
    """Give every judge that asks a model (members of ensembles included) its gated model."""
    pairs = []
    for named in judges:
        for judge in sub_judges(named.judge):
            if isinstance(judge, ModelJudge):
                target = build_target(judge.options.model)
                gate = CallGate.from_limits(target, limits, role="judge")
                judge.bind_model(gate)
                pairs.append((gate, target))
    return BoundModels(pairs)


def stored_transcript(attempt: dict[str, Any]) -> Transcript:
    """Rebuild the transcript of a stored attempt (messages and error)."""
    messages = [Message(m["role"], m["content"]) for m in attempt["transcript"]["messages"]]
    return Transcript(messages=messages, error=attempt["error"])


def can_judge(attempt: dict[str, Any]) -> bool:
    """Whether a stored attempt has a reply for a judge to read (it did not fail)."""
    transcript = stored_transcript(attempt)
    return transcript.error is None and transcript.last_reply is not None


def stored_behavior(attempt: dict[str, Any]) -> Behavior:
    """The behaviour of a stored attempt, as far as judges need it."""
    return Behavior(
        id=attempt["behavior_id"],
        goal=attempt["transcript"].get("goal", ""),
        category=attempt["category"],
        benign=bool(attempt["benign"]),
    )


async def rejudge_run(
    store: Store,
    run_id: str,
    judge: NamedJudge,
    limits: Limits,
    on_verdict: Callable[[Verdict], None] | None = None,
) -> dict[str, int]:
    """Add ``judge``'s verdicts to every stored attempt of ``run_id`` that lacks one.

    An attempt whose stored verdict from ``judge`` is ``error`` is judged again and that verdict
    replaced (a judge model that was down must not leave its errors for good), unless the
    attempt itself failed (no reply to judge); other verdicts are kept and their attempts
    skipped. The judge's canonical spec is stored in ``components`` and every new verdict
    points at it. The
    target is never called: transcripts come from the store. Up to
    ``limits.concurrency`` attempts are judged at once; calls to a judge model are stored with
    role ``judge``, each verdict as soon as it is made. Returns counts of judged and skipped
    attempts.
    """
    from redline.engine.redaction import judge_secrets

    run = store.get_run(run_id)
    store.add_secrets(judge_secrets([judge]))
    spec_sha = None
    if judge.spec is not None:
        store.add_components(run_id, [(judge.label, judge.spec)])
        spec_sha = judge.spec.spec_sha256
    already = {
        row["id"]: row["outcome"] == Outcome.ERROR.value
        for row in store.outcomes(run_id, judge.label)
    }
    models = bind_judge_models([judge], limits)
    counts = {"judged": 0, "skipped": 0}

    async def one(attempt: dict[str, Any]) -> None:
        transcript = stored_transcript(attempt)
        (verdict,) = await judge_transcript([judge], stored_behavior(attempt), transcript)
        store.add_judging(run_id, attempt["id"], verdict, transcript.calls, spec_sha)
        counts["judged"] += 1
        if on_verdict is not None:
            on_verdict(verdict)

    try:
        batch: list[dict[str, Any]] = []
        for attempt in store.iter_attempts(run_id):
            if attempt["id"] in already and not (already[attempt["id"]] and can_judge(attempt)):
                counts["skipped"] += 1
                continue
            batch.append(attempt)
            if len(batch) >= limits.concurrency:
                await asyncio.gather(*(one(a) for a in batch))
                batch = []
        await asyncio.gather(*(one(a) for a in batch))
    finally:
        await models.aclose()
    if not counts["judged"] and not counts["skipped"]:
        raise StoreError(f"run {run_id} ({run['status']}) has no stored attempts to judge")
    return counts


__all__ = [
    "BoundModels",
    "bind_judge_models",
    "rejudge_run",
    "stored_behavior",
    "stored_transcript",
]
