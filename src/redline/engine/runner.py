"""Execution: async workers run planned attempts, judge them and hand them to the writer."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redline.apps.scenario import use_scenario
from redline.attacks import Attack, AttackContext
from redline.attacks.base import AttackerError, JudgeFn
from redline.engine.gate import TRUNCATED, BoundCaller, CallGate
from redline.errors import BudgetExhausted, CallError
from redline.judges import Judge
from redline.model import (
    AttemptResult,
    Behavior,
    Outcome,
    PlannedAttempt,
    Transcript,
    Verdict,
)
from redline.registry import Built
from redline.store import Writer

ResultCallback = Callable[[AttemptResult], None]


@dataclass(slots=True)
class RunStats:
    """What one execution did."""

    finished: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    """Outcomes of the primary (first) judge."""
    stop_reason: str = "completed"
    """``completed``, ``budget_exhausted`` or ``interrupted``."""
    signal: int | None = None
    """The signal that interrupted the run (SIGINT, SIGTERM), when one did."""
    truncated_replies: int = 0
    """Replies cut at ``limits.max_reply_chars`` (each recorded in its attempt's meta)."""


@dataclass(slots=True)
class NamedJudge:
    """A judge with the label its verdicts are stored under."""

    label: str
    judge: Judge
    spec: Built | None = None
    """How it was built: its canonical spec (``None`` for internal judges, the scorer)."""


class Executor:
    """Runs attempts with ``concurrency`` workers until the plan, the budget or the user stops."""

    def __init__(
        self,
        *,
        gate: CallGate,
        attacks: dict[str, Attack],
        judges: Sequence[NamedJudge],
        writer: Writer,
        concurrency: int,
        system_prompt: str | None = None,
        on_result: ResultCallback | None = None,
        attacker: CallGate | None = None,
        scorer: Judge | None = None,
    ) -> None:
        self.gate = gate
        self.attacks = attacks
        self.judges = list(judges)
        self.writer = writer
        self.concurrency = concurrency
        self.system_prompt = system_prompt
        self.on_result = on_result
        self.attacker = attacker
        self.scorer = scorer
        self.stats = RunStats()
        self._stopping = False
        self._tasks: list[asyncio.Task[Any]] = []

    def interrupt(self, signum: int | None = None) -> None:
        """Stop now: in-flight attempts are abandoned (not stored) and will run on resume."""
        if self._stopping:
            return
        self._stopping = True
        self.stats.stop_reason = "interrupted"
        self.stats.signal = signum
        for task in self._tasks:
            task.cancel()

    async def run(self, pending: Iterable[PlannedAttempt]) -> RunStats:
        """Run every pending attempt; returns when all are done or the run had to stop."""
        queue = iter(pending)
        self._tasks = [
            asyncio.create_task(self._worker(queue)) for _ in range(max(1, self.concurrency))
        ]
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for task in self._tasks:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return self.stats

    async def _worker(self, queue: Any) -> None:
        for planned in queue:
            if self._stopping:
                return
            result = await self.run_one(planned)
            if result is None:
                if self.stats.stop_reason == "completed":
                    self.stats.stop_reason = "budget_exhausted"
                self._stopping = True
                return
            self.writer.put(result)
            self.stats.finished += 1
            if TRUNCATED in result.transcript.meta:
                self.stats.truncated_replies += len(result.transcript.meta[TRUNCATED])
            self.stats.outcomes[result.verdicts[0].outcome.value] += 1
            if self.on_result is not None:
                self.on_result(result)

    async def run_one(self, planned: PlannedAttempt) -> AttemptResult | None:
        """Attack, then judge, one planned attempt; ``None`` when the budget ran out."""
        transcript = Transcript()
        ctx = AttackContext(
            target=BoundCaller(self.gate, transcript),
            seed=planned.seed,
            system_prompt=self.system_prompt,
            transcript=transcript,
            attacker=BoundCaller(self.attacker, transcript) if self.attacker else None,
            scorer=recording(self.scorer, transcript) if self.scorer else None,
            judge=recording(self.judges[0].judge, transcript) if self.judges else None,
        )
        started = time.time()
        try:
            with use_scenario(planned.behavior.scenario):
                await self.attacks[planned.attack_key].run(planned.behavior, ctx)
        except BudgetExhausted:
            return None
        except CallError as exc:
            transcript.error = str(exc)
        except AttackerError as exc:
            transcript.error = f"attacker: {exc}"
        except Exception as exc:  # an attack plugin's bug must not end the run
            transcript.error = f"attack {planned.attack_key!r} failed: {type(exc).__name__}: {exc}"
        verdicts = await judge_transcript(self.judges, planned.behavior, transcript)
        return AttemptResult(planned, transcript, verdicts, started, time.time())


def recording(judge: Judge, attempt: Transcript) -> JudgeFn:
    """``judge`` as a function for attacks.

    It reads a candidate conversation; the calls it makes (to a judge model) are recorded in
    the attempt's transcript.
    """

    async def judge_candidate(behavior: Behavior, candidate: Transcript) -> Verdict:
        probe = Transcript(messages=list(candidate.messages))
        try:
            return await judge.judge(behavior, probe)
        finally:
            attempt.calls.extend(probe.calls)

    return judge_candidate


async def judge_transcript(
    judges: Sequence[NamedJudge], behavior: Behavior, transcript: Transcript
) -> list[Verdict]:
    """Every judge's verdict on ``transcript``, an attempt at ``behavior``.

    An attempt that failed (or never got a reply), or a judge that fails, gives ``error``.
    """
    if transcript.error is not None or transcript.last_reply is None:
        reason = transcript.error or "the target never answered"
        return [Verdict(j.label, Outcome.ERROR, rationale=reason) for j in judges]
    verdicts = []
    for named in judges:
        try:
            verdict = await named.judge.judge(behavior, transcript)
            if verdict.judge != named.label:
                verdict = dataclasses.replace(verdict, judge=named.label)
        except Exception as exc:
            verdict = Verdict(
                named.label,
                Outcome.ERROR,
                rationale=f"judge failed: {type(exc).__name__}: {exc}",
            )
        verdicts.append(verdict)
    return verdicts
