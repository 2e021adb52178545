"""A run from start to finish: prepare (new or resumed), execute, record its status.

This is the one place that wires config, plugins, plan, gate, executor and store together;
the CLI and Python users both go through :func:`prepare_run` and :func:`execute_run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import secrets
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redline import __version__, registry
from redline.attacks import Attack
from redline.attacks.base import attack_key
from redline.config import Campaign, load_behaviors, money_budget_problem, parse_campaign
from redline.engine.budget import Budget, campaign_budget
from redline.engine.gate import CallGate
from redline.engine.judging import JudgeModels, judge_models_for
from redline.engine.plan import build_plan
from redline.engine.redaction import campaign_secrets, judge_model_specs
from redline.engine.runner import Executor, NamedJudge, ResultCallback, RunStats
from redline.errors import ConfigError, StoreError
from redline.judges import judge_label
from redline.model import PlannedAttempt
from redline.store import RunLock, Store, Writer
from redline.store.sanitize import REDACTED
from redline.targets import build_target, close_target, describe_target
from redline.targets._http import redact_headers


def new_run_id() -> str:
    """A sortable, readable run id: ``YYYYmmdd-HHMMSS-xxxxxx``."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def named_judge(spec: str | dict[str, Any]) -> NamedJudge:
    """Build a judge from its spec, with its label and its canonical spec."""
    built = registry.build("judge", spec)
    return NamedJudge(judge_label(built.obj), built.obj, built)


def storable_config(campaign: Campaign) -> dict[str, Any]:
    """The campaign as JSON with literal header values redacted (secrets never stored).

    Every ``headers`` mapping is redacted, wherever it is: the target's, and those of judge
    models.
    """

    def scrub(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: redact_headers(v) if k == "headers" and isinstance(v, dict) else scrub(v)
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [scrub(v) for v in node]
        return node

    return scrub(campaign.model_dump(mode="json", exclude_none=True))


@dataclass
class PreparedRun:
    """Everything needed to execute a run."""

    run_id: str
    campaign: Campaign
    plan: list[PlannedAttempt]
    pending: list[PlannedAttempt]
    attacks: dict[str, Attack]
    judges: list[NamedJudge]
    calls_used: int = 0
    spent: dict[str, dict[str, Any]] = field(default_factory=dict)
    """A resumed run's stored usage per role (``Store.call_totals``): its budget starts there."""
    resumed: bool = False
    lock: RunLock | None = None
    """This process's hold on the run; :func:`execute_run` lets it go when the run ends."""
    components: list[tuple[str, registry.Built]] = field(default_factory=list)
    """``(label, built)`` of the target, every attack and every judge (stored in
    ``components``)."""

    @property
    def primary_judge(self) -> str:
        """The judge whose verdicts the summary shows first."""
        return self.judges[0].label


def _plan(
    campaign: Campaign,
) -> tuple[list[PlannedAttempt], dict[str, Attack], list[tuple[str, registry.Built]]]:
    behaviors = load_behaviors(campaign.sources(), campaign.seed)
    built = [registry.build("attack", spec) for spec in campaign.attacks]
    built_benign = [registry.build("attack", spec) for spec in campaign.benign_attacks]
    attacks = [b.obj for b in built]
    benign_attacks = [b.obj for b in built_benign]
    by_key = {attack_key(a): a for a in [*attacks, *benign_attacks]}
    plan = build_plan(
        behaviors, attacks, benign_attacks, repeats=campaign.repeats, seed=campaign.seed
    )
    components = [(attack_key(b.obj), b) for b in [*built, *built_benign]]
    return plan, by_key, components


def prepare_run(
    store: Store,
    campaign: Campaign | None = None,
    *,
    resume: str | None = None,
    max_target_calls: int | None = None,
    max_tokens: int | None = None,
    max_cost_usd: float | None = None,
    preflight: bool = False,
) -> PreparedRun:
    """Plan a new run of ``campaign``, or reload run ``resume`` and find what is left to do.

    When resuming, ``campaign`` may be given again (needed when the stored config had literal
    header values, which are never stored); it must give the same plan.

    With ``preflight``, every network model of the run (target, attacker, scorer, judge models)
    gets one test call first, and :class:`~redline.engine.preflight.PreflightError` stops a run
    whose models do not answer before anything is stored (``redline scan`` does this unless
    ``--no-preflight``).

    The run is locked for this process (released by :func:`execute_run`, or when the process
    ends): resuming a run that another process is executing raises :class:`StoreError`.
    """
    if resume is None and campaign is None:
        raise ConfigError("nothing to run: give a campaign or a run to resume")
    run_row = store.get_run(resume) if resume else None
    if run_row is not None and campaign is None:
        stored = json.loads(run_row["config_json"])
        if REDACTED in json.dumps(stored.get("target", {})):
            raise ConfigError(
                f"run {resume} used literal header values, which are never stored; resume it "
                "with its config file: redline scan CONFIG --resume " + str(resume)
            )
        campaign = parse_campaign(stored, f"run {resume} (stored config)")
    assert campaign is not None
    budgets = {
        key: value
        for key, value in (
            ("max_target_calls", max_target_calls),
            ("max_tokens", max_tokens),
            ("max_cost_usd", max_cost_usd),
        )
        if value is not None
    }
    if budgets:
        campaign = campaign.model_copy(
            update={"limits": campaign.limits.model_copy(update=budgets)}
        )
    problem = money_budget_problem(campaign) if max_cost_usd is not None else None
    if problem is not None:
        raise ConfigError(f"--max-cost-usd: {problem[1]}")
    plan, attacks, components = _plan(campaign)
    judges = [named_judge(spec) for spec in campaign.judges]
    components.insert(0, ("target", registry.specify("target", campaign.target)))
    components += [(j.label, j.spec) for j in judges if j.spec is not None]
    labels = [j.label for j in judges]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"judges: the same judge is listed twice ({', '.join(labels)})")
    store.add_secrets(campaign_secrets(campaign, judges))
    run_id = new_run_id() if run_row is None else run_row["id"]
    lock = store.lock_run(run_id)  # first: a resume refused here has sent nothing
    try:
        if preflight:
            from redline.engine import preflight as check

            models = check.models_to_check(
                campaign.target, campaign.attacker, campaign.scorer, judge_model_specs(judges)
            )
            check.preflight(models, campaign.limits.timeout_s, campaign_secrets(campaign, judges))
        prepared = _prepare(store, campaign, run_row, run_id, plan, attacks, judges, labels, lock)
        prepared.components = components
        store.add_components(run_id, components)
        return prepared
    except BaseException:
        lock.release()
        raise


def _prepare(
    store: Store,
    campaign: Campaign,
    run_row: dict[str, Any] | None,
    run_id: str,
    plan: list[PlannedAttempt],
    attacks: dict[str, Attack],
    judges: list[NamedJudge],
    labels: list[str],
    lock: RunLock,
) -> PreparedRun:
    if run_row is None:
        store.create_run(
            {
                "id": run_id,
                "name": campaign.name,
                "status": "running",
                "config_json": json.dumps(storable_config(campaign)),
                "target_json": json.dumps(describe_target(build_target(campaign.target))),
                "judges_json": json.dumps(labels),
                "seed": campaign.seed,
                "plan_size": len(plan),
                "redline_version": __version__,
            }
        )
        return PreparedRun(run_id, campaign, plan, list(plan), attacks, judges, lock=lock)
    done = store.done_attempt_ids(run_row["id"])
    plan_ids = {p.id for p in plan}
    if len(plan) != run_row["plan_size"] or not done <= plan_ids:
        raise ConfigError(
            f"this config does not give the plan of run {run_row['id']} "
            f"({len(plan)} attempts planned now, {run_row['plan_size']} then); "
            "resume with the config the run started with"
        )
    if json.loads(run_row["judges_json"]) != labels:
        raise ConfigError(
            f"run {run_row['id']} was judged by {run_row['judges_json']}, not {labels}"
        )
    pending = [p for p in plan if p.id not in done]
    return PreparedRun(
        run_row["id"],
        campaign,
        plan,
        pending,
        attacks,
        judges,
        calls_used=store.target_calls_used(run_row["id"]),
        spent=store.call_totals(run_row["id"]),
        resumed=True,
        lock=lock,
    )


def _attacker_roles(
    campaign: Campaign, limits: Any, models: JudgeModels, budget: Budget
) -> tuple[CallGate | None, Any]:
    """The attacker's gate and the 1-10 scorer, when the campaign names an attacker."""
    if campaign.attacker is None:
        return None, None
    from redline.judges.rubric import RubricJudge, RubricOptions

    target = build_target(campaign.attacker)
    gate = CallGate.from_limits(
        target,
        limits,
        role="attacker",
        rate_limited=campaign.attacker_limits is not None,
        budget=budget,
    )
    models.pairs.append((gate, target))
    scorer = RubricJudge(RubricOptions(mode="scale", model=campaign.scorer or campaign.attacker))
    models.add([NamedJudge("scorer", scorer)])
    return gate, scorer


async def execute_run(
    store: Store,
    prepared: PreparedRun,
    *,
    on_result: ResultCallback | None = None,
    on_gate: Callable[[CallGate], None] | None = None,
    handle_sigint: bool = True,
) -> RunStats:
    """Execute the pending attempts; the run's status is stored whatever happens.

    ``on_gate`` is handed the target's gate before the first call (a progress display reads
    its live concurrency, ``gate.concurrency_now``).

    With ``handle_sigint``, SIGINT and SIGTERM stop the run gracefully (status
    ``interrupted``; the signal is in the stats). When anything could not be stored the status
    is ``failed`` and :class:`StoreError` says what. With ``executor: {type: ray}`` the
    attempts run on Ray actors (:mod:`redline.engine.ray_executor`).
    """
    campaign, limits = prepared.campaign, prepared.campaign.limits
    if campaign.executor is not None and campaign.executor.type == "ray":
        from redline.engine.ray_executor import execute_on_ray

        return await execute_on_ray(
            store, prepared, on_result=on_result, on_gate=on_gate, handle_sigint=handle_sigint
        )
    target = build_target(campaign.target)
    budget = campaign_budget(campaign, calls_used=prepared.calls_used, stored=prepared.spent)
    gate = CallGate.from_limits(target, limits, budget=budget, rate_limited=True)
    if on_gate is not None:
        on_gate(gate)
    models = judge_models_for(
        prepared.judges,
        campaign.limits_for("judge"),
        rate_limited=campaign.judge_limits is not None,
        budget=budget,
    )
    attacker_gate, scorer = _attacker_roles(
        campaign, campaign.limits_for("attacker"), models, budget
    )
    writer = store.writer(
        prepared.run_id,
        judge_specs={j.label: j.spec.spec_sha256 for j in prepared.judges if j.spec is not None},
    )
    executor = Executor(
        gate=gate,
        attacks=prepared.attacks,
        judges=prepared.judges,
        writer=writer,
        concurrency=limits.concurrency,
        system_prompt=campaign.target.get("system_prompt"),
        on_result=on_result,
        attacker=attacker_gate,
        scorer=scorer,
    )
    loop = asyncio.get_running_loop()
    stop_signals = (signal.SIGINT, signal.SIGTERM) if handle_sigint else ()
    for signum in stop_signals:
        loop.add_signal_handler(signum, executor.interrupt, signum)
    store.set_status(prepared.run_id, "running")
    # The plan and everything loaded so far live for the whole run: keep the cyclic garbage
    # collector from traversing them again and again while attempts allocate.
    gc.freeze()
    status = "failed"
    try:
        spent = budget.first_refusal()
        if spent is not None and prepared.pending:
            executor.stats.stop_reason = "budget_exhausted"
            budget.reason = budget.reason or spent
            stats = executor.stats
        else:
            with models.active():  # judges (and the scorer) read their models from here
                stats = await executor.run(prepared.pending)
        if stats.stop_reason == "budget_exhausted":
            stats.budget_reason = budget.reason
        status = stats.stop_reason
    finally:
        for signum in stop_signals:
            loop.remove_signal_handler(signum)

        async def release() -> None:
            await gate.aclose()
            await models.aclose()
            await close_target(target)

        await close_run(store, prepared, writer, executor.stats, status, release)
    return stats


async def close_run(
    store: Store,
    prepared: PreparedRun,
    writer: Writer,
    stats: RunStats,
    status: str,
    release: Callable[[], Awaitable[None]],
) -> None:
    """End a run, whichever executor ran it and however it ended.

    Writes the last attempts, then (whatever happened) awaits ``release`` (the targets,
    gates or actors), stores the final status (``failed`` when the writer failed, never
    ``completed`` with results missing; ``interrupted`` on a second Ctrl-C while writing) with
    the budget's reason, releases the run's lock and lets the garbage collector look at what
    ``gc.freeze()`` set aside at the start.
    """
    try:
        writer.close()
    except KeyboardInterrupt:  # a second Ctrl-C while the last attempts are written
        status = "interrupted"
        raise
    except BaseException:
        status = "failed"  # never `completed` with results missing
        raise
    finally:
        await release()
        detail = stats.budget_reason if status == "budget_exhausted" else None
        with contextlib.suppress(StoreError):
            store.set_status(prepared.run_id, status, detail)
        if prepared.lock is not None:
            prepared.lock.release()
        gc.unfreeze()
