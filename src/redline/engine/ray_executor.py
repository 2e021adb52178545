"""Run attempts on Ray actors, on one machine or many; the driver stays the single writer.

Each actor (:class:`~redline.engine.ray_worker.AttemptWorker`) holds its own target, attacks,
judges and judge models, built from the run's specs, and runs ``limits.concurrency`` attempts
at once. The driver (:class:`RayExecutor`) sends planned attempts in calls of up to
``executor.batch`` (a Ray call costs about as much CPU as a whole attempt), writes
every result through the run's :class:`~redline.store.Writer`, and keeps a
:class:`~redline.engine.ledger.Ledger`: an actor that dies gives its in-flight attempts back
to the others (and is replaced, up to ``executor.max_actor_restarts``), and a result whose
attempt is already done is dropped, so every attempt is stored exactly once.

Limits split across actors: ``concurrency`` is per actor; each ``requests_per_minute`` and the
call budget (``max_target_calls``) are divided evenly among the actors (docs/scale.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redline.config import ExecutorConfig
from redline.engine.campaign import PreparedRun, close_run
from redline.engine.gate import Budget
from redline.engine.ledger import Ledger
from redline.engine.ray_worker import AttemptWorker, share_limits
from redline.engine.runner import ResultCallback, RunStats, judge_transcript
from redline.errors import ConfigError, ExecutorError, MissingExtraError
from redline.model import AttemptResult, PlannedAttempt, Transcript
from redline.store import Store, Writer

INSTALL_HINT = "the Ray executor needs Ray: pip install 'redline[ray]'"
ACTOR_START_TIMEOUT_S = 600.0
"""How long an actor may take to start (its process, imports, models) before the run stops."""


def import_ray() -> Any:
    """The ``ray`` module, or :class:`MissingExtraError` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise MissingExtraError(INSTALL_HINT) from exc
    return ray


def unsupported_budget(campaign: Any, max_tokens: int | None, max_cost_usd: float | None) -> None:
    """Refuse budgets in tokens or money on Ray: only the call budget is divided among actors.

    Raises :class:`ConfigError` naming the limit, so it is said before a run is created and
    never silently ignored.
    """
    if max_tokens is not None or max_cost_usd is not None:
        flag = "--max-tokens" if max_tokens is not None else "--max-cost-usd"
        raise ConfigError(
            f"{flag} is not supported with --executor ray yet: only max_target_calls is "
            "divided among the actors (docs/scale.md); run locally or use max_target_calls"
        )
    if campaign is None:
        return
    for key in ("limits", "attacker_limits", "judge_limits"):
        limits = getattr(campaign, key, None)
        if limits is None:
            continue
        for name in ("max_tokens", "max_cost_usd"):
            if getattr(limits, name, None) is not None:
                raise ConfigError(
                    f"{key}.{name} is not supported with the Ray executor yet: only "
                    "limits.max_target_calls is divided among the actors (docs/scale.md); "
                    "run locally or use max_target_calls"
                )


@dataclass(slots=True)
class RayRunStats(RunStats):
    """What a run on Ray did, with what the ledger caught."""

    actors: int = 0
    """Actors started (replacements included)."""
    actors_lost: int = 0
    resent: int = 0
    """Attempts sent again because the actor running them was lost."""
    duplicates: int = 0
    """Results dropped because their attempt was already stored."""
    actor_cpu_s: float = 0.0
    """CPU seconds the live actors used running attempts (from ready to the end of the run)."""

    def note(self) -> str:
        """One line for the terminal."""
        return (
            f"ray: {self.actors} actors ({self.actors_lost} lost), {self.resent} attempts sent "
            f"again, {self.duplicates} duplicate results dropped"
        )


@dataclass(slots=True)
class _Actor:
    name: str
    handle: Any
    budget: int | None
    alive: bool = True
    exhausted: bool = False
    calls_seen: int = 0
    """Target calls of the results it returned (what the driver knows it spent)."""
    cpu_at_start: float = 0.0
    """CPU seconds its process had used when it was ready (imports, models)."""


class RayExecutor:
    """Sends a run's attempts to Ray actors and writes what they return, each attempt once."""

    def __init__(
        self,
        prepared: PreparedRun,
        writer: Writer,
        settings: ExecutorConfig,
        *,
        on_result: ResultCallback | None = None,
    ) -> None:
        self.prepared = prepared
        self.writer = writer
        self.settings = settings
        self.on_result = on_result
        self.per_actor = prepared.campaign.limits.concurrency
        self.stats = RayRunStats()
        self.ledger = Ledger([])
        self._ray: Any = None
        self._owns_ray = False
        self._actors: list[_Actor] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopping = False
        self._changed = asyncio.Event()
        self._restarts_left = settings.max_actor_restarts
        self._campaign = share_limits(prepared.campaign, settings.actors)

    # -- what the progress bar reads (as it reads a gate's live concurrency) ----------------

    @property
    def concurrency(self) -> RayExecutor:
        """Itself: ``in_flight``, ``limit`` and ``maximum`` over every actor."""
        return self

    @property
    def in_flight(self) -> int:
        """Attempts running on actors now."""
        return self.ledger.in_flight

    @property
    def limit(self) -> int:
        """Attempts the live actors may run at once."""
        return self.per_actor * sum(1 for a in self._actors if a.alive and not a.exhausted)

    @property
    def maximum(self) -> int:
        """Attempts ``executor.actors`` actors may run at once."""
        return self.per_actor * self.settings.actors

    @property
    def requests(self) -> int:
        """Target calls of the attempts the actors returned (the progress bar's calls/s).

        Counted as results come back, so the rate moves in steps of an attempt's calls.
        """
        return sum(actor.calls_seen for actor in self._actors)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Join (or start) Ray and start the actors; each must build its models first."""
        ray = self._ray = import_ray()
        if not ray.is_initialized():
            try:
                ray.init(
                    address=self.settings.address,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = self.settings.address or "this machine"
                raise ConfigError(f"executor.address: cannot join Ray at {where}: {exc}") from exc
            self._owns_ray = True
        need = self.settings.actors * self.settings.cpus_per_actor
        have = float(ray.cluster_resources().get("CPU", 0.0))
        if need > have:  # Ray would wait for CPUs that never come
            raise ConfigError(
                f"executor: {self.settings.actors} actors x cpus_per_actor "
                f"{self.settings.cpus_per_actor:g} need {need:g} CPUs, and the Ray cluster has "
                f"{have:g}: use fewer actors, or a smaller cpus_per_actor (0 lets actors share)"
            )
        calls = self.prepared.campaign.limits.max_target_calls
        remaining = None if calls is None else max(0, calls - self.prepared.calls_used)
        shares = _split(remaining, self.settings.actors)
        await asyncio.gather(*(self._spawn(share) for share in shares))

    async def _spawn(self, budget: int | None) -> _Actor:
        ray = self._ray
        index = self.stats.actors
        self.stats.actors += 1
        name = f"redline-{self.prepared.run_id}-{index}"
        remote = ray.remote(AttemptWorker).options(
            name=name,
            num_cpus=self.settings.cpus_per_actor,
            max_concurrency=self.per_actor + 4,  # calls, each of up to `batch` attempts
            max_restarts=0,
            scheduling_strategy="SPREAD",
        )
        handle = remote.remote(self._campaign, sorted(self.prepared.attacks), budget)
        actor = _Actor(name, handle, budget)
        self._actors.append(actor)
        try:
            info = await asyncio.wait_for(handle.start.remote(), ACTOR_START_TIMEOUT_S)
        except ray.exceptions.RayError as exc:
            actor.alive = False
            raise ExecutorError(f"Ray actor {name} could not start: {_cause(exc)}") from exc
        except TimeoutError as exc:
            actor.alive = False
            raise ExecutorError(
                f"Ray actor {name} did not start within {ACTOR_START_TIMEOUT_S:g} s (is the "
                "cluster short of CPUs? `ray status` shows what it has)"
            ) from exc
        actor.cpu_at_start = info["cpu_s"]
        return actor

    async def run(self, pending: list[PlannedAttempt]) -> RayRunStats:
        """Run every pending attempt on the actors; returns when all are stored or it stopped."""
        self.ledger = Ledger(pending)
        for actor in self._actors:
            self._start_slots(actor)
        while live := [t for t in self._tasks if not t.done()]:
            await asyncio.wait(live)
        for task in self._tasks:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        self.stats.resent = self.ledger.resent
        self.stats.duplicates = self.ledger.duplicates
        if self.ledger.finished or self.stats.stop_reason != "completed":
            return self.stats
        if any(a.exhausted for a in self._actors):
            self.stats.stop_reason = "budget_exhausted"
            return self.stats
        left = self.ledger.total - self.ledger.done
        raise ExecutorError(
            f"every Ray actor was lost ({self.stats.actors_lost} of {self.stats.actors}, "
            f"executor.max_actor_restarts {self.settings.max_actor_restarts}); {left} attempts "
            f"were not run: redline scan --resume {self.prepared.run_id} runs them"
        )

    def interrupt(self, signum: int | None = None) -> None:
        """Stop now: attempts in flight are abandoned (not stored) and run on resume."""
        if self._stopping:
            return
        self._stopping = True
        self.stats.stop_reason = "interrupted"
        self.stats.signal = signum
        for task in self._tasks:
            task.cancel()

    async def aclose(self) -> None:
        """Read the actors' CPU use, stop them, and leave Ray if this run started it."""
        ray = self._ray
        if ray is None:
            return
        alive = [a for a in self._actors if a.alive]
        if not self._stopping and alive:
            with contextlib.suppress(Exception):
                usages = await asyncio.wait_for(
                    asyncio.gather(*(a.handle.usage.remote() for a in alive)), 10
                )
                self.stats.actor_cpu_s = sum(
                    u["cpu_s"] - a.cpu_at_start for u, a in zip(usages, alive, strict=True)
                )
        for actor in self._actors:
            with contextlib.suppress(Exception):
                ray.kill(actor.handle)
        if self._owns_ray:
            ray.shutdown()

    # -- the slots: each runs one attempt at a time on its actor -----------------------------

    def _start_slots(self, actor: _Actor) -> None:
        """Slots that together keep ``concurrency`` attempts in flight on ``actor``."""
        batch = min(self.settings.batch, self.per_actor)
        slots = -(-self.per_actor // batch)
        for size in _split(self.per_actor, slots):
            self._tasks.append(asyncio.create_task(self._slot(actor, size or 1)))

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _slot(self, actor: _Actor, size: int) -> None:
        """Send ``actor`` up to ``size`` attempts per call until the plan is done."""
        ray = self._ray
        while not self._stopping and actor.alive and not actor.exhausted:
            changed = self._changed
            batch = [p for p in (self.ledger.take(actor.name) for _ in range(size)) if p]
            if not batch:
                if self.ledger.in_flight == 0:
                    return  # nothing queued, nothing that could come back
                await changed.wait()  # a lost actor may give attempts back
                continue
            try:
                results = await actor.handle.run_batch.remote(batch)
            except ray.exceptions.RayActorError as exc:
                self._lost(actor, exc)
                return
            except ray.exceptions.RayError as exc:  # e.g. a result that could not be sent
                results = [await self._failed(p, exc) for p in batch]
            for planned, result in zip(batch, results, strict=True):
                if result is None:  # this actor's share of the call budget is spent
                    actor.exhausted = True
                    self.ledger.release(planned.id)
                else:
                    self.deliver(result, actor)
            self._notify()

    def deliver(self, result: AttemptResult, actor: _Actor | None = None) -> bool:
        """Store ``result`` unless its attempt is already stored; ``False`` when dropped."""
        if actor is not None:
            actor.calls_seen += result.transcript.target_calls
        stored = self.ledger.finish(result.planned.id)
        self.stats.duplicates = self.ledger.duplicates
        if stored:
            self.writer.put(result)
            self.stats.finished += 1
            self.stats.outcomes[result.verdicts[0].outcome.value] += 1
            truncated = result.transcript.meta.get("truncated_replies")
            if truncated:
                self.stats.truncated_replies += len(truncated)
            if self.on_result is not None:
                self.on_result(result)
        return stored

    async def _failed(self, planned: PlannedAttempt, exc: Exception) -> AttemptResult:
        """An ``error`` attempt for a failure inside the actor (recorded, never safe)."""
        now = time.time()
        transcript = Transcript(error=f"ray worker failed: {_cause(exc)}")
        verdicts = await judge_transcript(self.prepared.judges, planned.behavior, transcript)
        return AttemptResult(planned, transcript, verdicts, now, now)

    def _lost(self, actor: _Actor, exc: Exception) -> None:
        """``actor`` died: requeue what it ran; start another in its place while allowed."""
        if not actor.alive:
            return
        actor.alive = False
        with contextlib.suppress(Exception):  # unreachable rather than dead: stop it anyway
            self._ray.kill(actor.handle)
        self.stats.actors_lost += 1
        self.ledger.lost(actor.name)
        self.stats.resent = self.ledger.resent
        self._notify()
        if self._restarts_left > 0 and not self._stopping:
            self._restarts_left -= 1
            budget = None if actor.budget is None else max(0, actor.budget - actor.calls_seen)
            self._tasks.append(asyncio.create_task(self._replace(budget)))

    async def _replace(self, budget: int | None) -> None:
        try:
            actor = await self._spawn(budget)
        except ExecutorError:
            if not any(a.alive for a in self._actors):
                raise
            return  # the others carry on
        if not self._stopping:
            self._start_slots(actor)


def _split(total: int | None, parts: int) -> list[int | None]:
    """``total`` divided into ``parts`` shares that add up to it (``None``: no limit)."""
    if total is None:
        return [None] * parts
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _cause(exc: BaseException) -> str:
    """The message of the exception behind a Ray error (a task's own error when it has one)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}"
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


async def execute_on_ray(
    store: Store,
    prepared: PreparedRun,
    *,
    on_result: ResultCallback | None = None,
    on_gate: Callable[[Any], None] | None = None,
    handle_sigint: bool = True,
) -> RunStats:
    """:func:`~redline.engine.campaign.execute_run` with the attempts on Ray actors.

    Same promises: the status is stored whatever happens, SIGINT/SIGTERM interrupt gracefully,
    the run's lock is released at the end. ``on_gate`` is handed the executor, whose
    ``concurrency`` reads like a gate's (attempts in flight over every actor).
    """
    unsupported_budget(prepared.campaign, None, None)  # a resumed run's stored config
    settings = prepared.campaign.executor or ExecutorConfig(type="ray")
    writer = store.writer(
        prepared.run_id,
        judge_specs={j.label: j.spec.spec_sha256 for j in prepared.judges if j.spec is not None},
    )
    executor = RayExecutor(prepared, writer, settings, on_result=on_result)
    limits = prepared.campaign.limits
    budget = Budget(limits.max_target_calls, used=prepared.calls_used)
    loop = asyncio.get_running_loop()
    stop_signals = (signal.SIGINT, signal.SIGTERM) if handle_sigint else ()
    status = "failed"
    gc.freeze()
    try:
        if budget.exhausted and prepared.pending:
            executor.stats.stop_reason = "budget_exhausted"
            stats: RunStats = executor.stats
        else:
            try:
                await executor.start()
            except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C while Ray starts
                status = "interrupted"
                raise
            if on_gate is not None:
                on_gate(executor)
            for signum in stop_signals:
                loop.add_signal_handler(signum, executor.interrupt, signum)
            store.set_status(prepared.run_id, "running")
            stats = await executor.run(prepared.pending)
        status = stats.stop_reason
        calls = limits.max_target_calls
        if status == "budget_exhausted" and stats.budget_reason is None and calls is not None:
            # the actors spent their shares of the call budget: the run's whole budget
            stats.budget_reason = f"the budget of {calls:,} target calls is spent"
    finally:
        for signum in stop_signals:
            loop.remove_signal_handler(signum)
        await close_run(store, prepared, writer, executor.stats, status, executor.aclose)
    return stats
