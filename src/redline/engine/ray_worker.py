"""What a Ray actor does: run attempts (attack and judging) with its own models.

:class:`AttemptWorker` is a plain class; :mod:`redline.engine.ray_executor` makes it a Ray
actor on the driver, so this module imports without Ray. Each actor builds its target, its
attacks, its judges and their models from the run's specs (``registry.build``), exactly as the
local executor does, and returns each :class:`~redline.model.AttemptResult` to the driver,
which alone writes to the store.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import Any, cast

from redline import registry
from redline.attacks import Attack
from redline.attacks.base import attack_key
from redline.config import Campaign, Limits
from redline.engine.campaign import _attacker_roles, named_judge
from redline.engine.gate import Budget, CallGate
from redline.engine.judging import JudgeModels, judge_models_for
from redline.engine.runner import Executor, judge_transcript
from redline.errors import ConfigError
from redline.model import AttemptResult, PlannedAttempt, Transcript
from redline.store import Writer
from redline.targets import build_target, close_target


def share_limits(campaign: Campaign, actors: int) -> Campaign:
    """``campaign`` with each ``requests_per_minute`` divided among ``actors``.

    Rate limits describe what a model may receive from the whole run; each actor enforces its
    share. Concurrency is not divided: it is per actor (each holds its own target).
    """

    def share(limits: Limits | None) -> Limits | None:
        if limits is None or limits.requests_per_minute is None:
            return limits
        return limits.model_copy(
            update={"requests_per_minute": limits.requests_per_minute / actors}
        )

    return campaign.model_copy(
        update={
            "limits": share(campaign.limits),
            "attacker_limits": share(campaign.attacker_limits),
            "judge_limits": share(campaign.judge_limits),
        }
    )


def build_attacks(campaign: Campaign) -> dict[str, Attack]:
    """The campaign's attacks (harmful and benign), by key, as the planner builds them."""
    specs = [*campaign.attacks, *campaign.benign_attacks]
    attacks = [registry.build("attack", spec).obj for spec in specs]
    return {attack_key(a): a for a in attacks}


class AttemptWorker:
    """One actor's share of a run: its own gates, models, attacks and judges."""

    def __init__(self, campaign: Campaign, attack_keys: list[str], budget: int | None) -> None:
        self.campaign = campaign
        self.attack_keys = attack_keys
        self.budget = Budget(budget)
        self._executor: Executor | None = None
        self._models: JudgeModels | None = None
        self._target: Any = None

    async def start(self) -> dict[str, Any]:
        """Build everything; say where this actor runs and its CPU seconds so far.

        Raises what a bad spec raises (a missing API key variable on this node included).
        """
        campaign = self.campaign
        attacks = build_attacks(campaign)
        missing = sorted(set(self.attack_keys) - set(attacks))
        if missing:
            raise ConfigError(
                f"this worker builds other attacks than the driver planned (missing: "
                f"{', '.join(missing)}): install the same redline version and plugins on "
                "every node"
            )
        judges = [named_judge(spec) for spec in campaign.judges]
        self._target = build_target(campaign.target)
        gate = CallGate.from_limits(
            self._target, campaign.limits, budget=self.budget, rate_limited=True
        )
        self._models = judge_models_for(
            judges, campaign.limits_for("judge"), rate_limited=campaign.judge_limits is not None
        )
        attacker, scorer = _attacker_roles(campaign, campaign.limits_for("attacker"), self._models)
        self._executor = Executor(
            gate=gate,
            attacks=attacks,
            judges=judges,
            # run_one never writes: results go back to the driver, the run's single writer
            writer=cast(Writer, None),
            concurrency=campaign.limits.concurrency,
            system_prompt=campaign.target.get("system_prompt"),
            attacker=attacker,
            scorer=scorer,
        )
        return {"host": socket.gethostname(), "pid": os.getpid(), "cpu_s": time.process_time()}

    async def run(self, planned: PlannedAttempt) -> AttemptResult | None:
        """Attack and judge one attempt; ``None`` when this actor's call budget is spent."""
        assert self._executor is not None and self._models is not None, "start() first"
        with self._models.active():
            return await self._executor.run_one(planned)

    async def run_batch(self, batch: list[PlannedAttempt]) -> list[AttemptResult | None]:
        """Run ``batch`` concurrently; a result (or ``None``, see :meth:`run`) for each.

        An attempt that raises becomes an ``error`` attempt with the failure recorded, so one
        bug costs only its own attempt.
        """
        outcomes = await asyncio.gather(*(self.run(p) for p in batch), return_exceptions=True)
        results: list[AttemptResult | None] = []
        for planned, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if not isinstance(outcome, Exception):
                    raise outcome  # cancellation, exit: not the attempt's failure
                outcome = await self.failed(planned, f"{type(outcome).__name__}: {outcome}")
            results.append(outcome)
        return results

    async def failed(self, planned: PlannedAttempt, why: str) -> AttemptResult:
        """An ``error`` attempt: the worker failed running it (recorded, never safe)."""
        assert self._executor is not None, "start() first"
        now = time.time()
        transcript = Transcript(error=f"ray worker failed: {why}")
        judges = self._executor.judges
        verdicts = await judge_transcript(judges, planned.behavior, transcript)
        return AttemptResult(planned, transcript, verdicts, now, now)

    async def usage(self) -> dict[str, float]:
        """CPU seconds this actor's process used, and the target calls it made."""
        return {"cpu_s": time.process_time(), "target_calls": float(self.budget.used)}

    async def close(self) -> None:
        """Release connections and models (the attacker's gate is closed with the models)."""
        from redline.targets._http import close_shared_session

        if self._executor is not None:
            await self._executor.gate.aclose()
        if self._models is not None:
            await self._models.aclose()
        if self._target is not None:
            await close_target(self._target)
        await close_shared_session()
