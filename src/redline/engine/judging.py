"""Judging outside the attack loop: the run's judge models, and re-judging stored attempts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from redline.config import Limits
from redline.engine.gate import CallGate
from redline.engine.runner import NamedJudge, judge_transcript
from redline.errors import StoreError
from redline.judges import ModelJudge, sub_judges
from redline.judges.base import ModelCaller, model_key, use_judge_models
from redline.model import Behavior, Message, Outcome, ToolCall, Transcript, Verdict
from redline.store import Store
from redline.store.records import StoredAttempt
from redline.targets import build_target, close_target


@dataclass
class JudgeModels:
    """The judge models of a run: one gated caller per distinct judge model spec.

    ``callers`` maps :func:`~redline.judges.base.model_key` of a spec to its gate; the engine
    makes it the context's :data:`~redline.judges.base.judge_models` while it judges (see
    :meth:`active`). ``pairs`` are the gates and targets opened; close them with
    :meth:`aclose`.
    """

    limits: Limits
    rate_limited: bool = False
    """Apply ``limits.requests_per_minute`` to each judge model (given as their own limits)."""
    callers: dict[str, ModelCaller] = field(default_factory=dict)
    pairs: list[tuple[CallGate, Any]] = field(default_factory=list)

    def add(self, judges: Sequence[NamedJudge]) -> None:
        """Open a gated model for every judge model of ``judges`` (ensemble members included).

        Judges on one model spec share its gate (its concurrency and retries).
        """
        for named in judges:
            for judge in sub_judges(named.judge):
                if not isinstance(judge, ModelJudge):
                    continue
                key = model_key(judge.options.model)
                if key in self.callers:
                    continue
                target = build_target(judge.options.model)
                gate = CallGate.from_limits(
                    target, self.limits, role="judge", rate_limited=self.rate_limited
                )
                self.callers[key] = gate
                self.pairs.append((gate, target))

    def active(self) -> AbstractContextManager[None]:
        """Make these the judge models of the current context until the block ends."""
        return use_judge_models(self.callers)

    async def aclose(self) -> None:
        """Stop the gates and release the targets."""
        for gate, target in self.pairs:
            await gate.aclose()
            await close_target(target)


def judge_models_for(
    judges: Sequence[NamedJudge], limits: Limits, *, rate_limited: bool = False
) -> JudgeModels:
    """The gated judge models of ``judges`` (members of ensembles included).

    ``rate_limited``: ``limits`` are the judges' own (``judge_limits``), so their
    ``requests_per_minute`` applies to each judge model.
    """
    models = JudgeModels(limits, rate_limited)
    models.add(judges)
    return models


def stored_transcript(attempt: StoredAttempt) -> Transcript:
    """Rebuild the transcript of a stored attempt (messages, tool calls and error)."""
    messages = [Message(m["role"], m["content"]) for m in attempt.transcript["messages"]]
    tool_calls = [ToolCall.from_dict(c) for c in attempt.transcript.get("tool_calls", [])]
    return Transcript(messages=messages, error=attempt.error, tool_calls=tool_calls)


def can_judge(attempt: StoredAttempt) -> bool:
    """Whether a stored attempt has a reply for a judge to read (it did not fail)."""
    transcript = stored_transcript(attempt)
    return transcript.error is None and transcript.last_reply is not None


def stored_behavior(attempt: StoredAttempt) -> Behavior:
    """The behaviour of a stored attempt, as far as judges need it."""
    return Behavior(
        id=attempt.behavior_id,
        goal=attempt.transcript.get("goal", ""),
        category=attempt.category,
        benign=bool(attempt.benign),
        scenario=attempt.transcript.get("scenario"),
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
        row.id: row.outcome == Outcome.ERROR.value for row in store.outcomes(run_id, judge.label)
    }
    models = judge_models_for([judge], limits)
    counts = {"judged": 0, "skipped": 0}

    async def one(attempt: StoredAttempt) -> None:
        transcript = stored_transcript(attempt)
        (verdict,) = await judge_transcript([judge], stored_behavior(attempt), transcript)
        store.add_judging(run_id, attempt.id, verdict, transcript.calls, spec_sha)
        counts["judged"] += 1
        if on_verdict is not None:
            on_verdict(verdict)

    try:
        with models.active():
            batch: list[StoredAttempt] = []
            for attempt in store.iter_attempts(run_id):
                redo = already.get(attempt.id, True) and can_judge(attempt)
                if attempt.id in already and not redo:
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
    "JudgeModels",
    "judge_models_for",
    "rejudge_run",
    "stored_behavior",
    "stored_transcript",
]
