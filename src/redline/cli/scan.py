"""``redline scan``: run a campaign (or resume one) and print its summary."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import deque
from typing import Any

import click

from redline.cli import (
    EXIT_ALL_ERRORS,
    EXIT_BUDGET,
    EXIT_INTERRUPTED,
    db_option,
    user_errors,
)
from redline.cli.runs import fail_on_asr_option, max_error_rate_option


def _check_options(
    config: str | None,
    resume: str | None,
    target_url: str | None,
    model: str | None,
    key_env: str | None,
) -> None:
    """Refuse option combinations that would silently do something else than asked."""
    from redline.config import http_url_problem
    from redline.errors import ConfigError

    flags = {"--target": target_url, "--model": model, "--api-key-env": key_env}
    given = [flag for flag, value in flags.items() if value is not None]
    if resume is not None and given:
        raise ConfigError(
            f"{' and '.join(given)} cannot change a resumed run: it keeps its target (drop "
            f"{'it' if len(given) == 1 else 'them'}; a run whose config had literal header "
            "values is resumed with its CONFIG file)"
        )
    if config is not None and target_url is not None:
        raise ConfigError("give either a CONFIG file or --target, not both")
    if target_url is None and given:
        where = "the CONFIG file's target" if config is not None else "--target URL"
        raise ConfigError(
            f"{' and '.join(given)} only go{'es' if len(given) == 1 else ''} with --target URL: "
            f"set the model and key in {where} (without --target or a CONFIG, `redline scan` "
            "scans the embedded local model)"
        )
    if target_url is not None:
        problem = http_url_problem(target_url)
        if problem is not None:
            raise ConfigError(f"--target: {problem}")


def _campaign(config: str | None, target_url: str | None, model: str | None, key_env: str | None):
    from redline.config import load_config
    from redline.quick import quick_campaign

    if config is not None:
        return load_config(config)
    if target_url is not None:
        target: dict[str, Any] = {
            "type": "openai",
            "base_url": target_url,
            "model": model or "default",
        }
        if key_env:
            target["api_key_env"] = key_env
        return quick_campaign(target)
    return quick_campaign({"type": "local"})


def _config_says_ray(campaign: Any) -> bool:
    return bool(campaign is not None and campaign.executor and campaign.executor.type == "ray")


def _with_executor(campaign: Any, executor: str | None, address: str | None, actors: int | None):
    """``campaign`` with the executor the command line asks for (it wins over the config's)."""
    from redline.config import ExecutorConfig

    if executor is None and address is None and actors is None:
        return campaign
    if executor == "local":
        return campaign.model_copy(update={"executor": None})
    current = campaign.executor or ExecutorConfig(type="ray")
    update: dict[str, Any] = {"type": "ray"}
    if address is not None:
        update["address"] = address
    if actors is not None:
        update["actors"] = actors
    return campaign.model_copy(update={"executor": current.model_copy(update=update)})


RATE_WINDOW_S = 5.0
"""The progress bar's calls/s is measured over about this many seconds."""


def _progress(total: int, done_before: int, console: Any, enabled: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "[red]unsafe {task.fields[unsafe]}[/] [green]safe {task.fields[safe]}[/] "
            "[yellow]error {task.fields[error]}[/] [cyan]benign {task.fields[benign]}[/] "
            "[dim]{task.fields[concurrency]}[/]"
        ),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
    )
    task = progress.add_task(
        "scan", total=total, completed=done_before, unsafe=0, safe=0, error=0, benign=0,
        concurrency="",
    )  # fmt: skip
    counts = {"unsafe": 0, "safe": 0, "error": 0, "benign": 0}
    gates: list[Any] = []
    samples: deque[tuple[float, int]] = deque()
    """``(time, requests sent)`` over the last ``RATE_WINDOW_S`` seconds (the first kept)."""

    def on_gate(gate: Any) -> None:
        gates.append(gate)
        samples.append((time.monotonic(), getattr(gate, "requests", 0)))

    def rate(now: float, sent: int) -> str:
        """`` · 183 calls/s``: target requests per second over the last few seconds."""
        samples.append((now, sent))
        while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW_S:
            samples.popleft()
        then, before = samples[0]
        return f" · {(sent - before) / (now - then):.0f} calls/s" if now - then >= 0.2 else ""

    def concurrency() -> str:
        """``in flight 12/16 · 183 calls/s``: the live limit and the target's request rate.

        The limit is below the maximum while the server pushes back.
        """
        if not gates:
            return ""
        gate = gates[0]
        limit = gate.concurrency
        return (
            f"in flight {limit.in_flight}/{limit.limit}"
            + (f" (max {limit.maximum})" if limit.limit < limit.maximum else "")
            + rate(time.monotonic(), getattr(gate, "requests", 0))
        )

    def on_result(result: Any) -> None:
        outcome = result.verdicts[0].outcome.value
        key = "benign" if outcome in ("complied", "over_refusal") else outcome
        counts[key] += 1
        progress.update(
            task,
            advance=1,
            unsafe=counts["unsafe"],
            safe=counts["safe"],
            error=counts["error"],
            benign=counts["benign"],
            concurrency=concurrency(),
        )

    return progress, on_result, on_gate


@click.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--resume", metavar="RUN_ID", help="Continue an interrupted or budget-stopped run.")
@click.option(
    "--target",
    "target_url",
    metavar="URL",
    help="Run the quick campaign against this OpenAI-compatible base URL (e.g. http://127.0.0.1:8000/v1).",
)
@click.option("--model", help="Model name for --target [default: default].")
@click.option(
    "--api-key-env", metavar="VAR", help="Environment variable holding --target's API key."
)
@click.option("--max-target-calls", type=click.IntRange(min=1), help="Override the call budget.")
@click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    help="Override the run's token budget (limits.max_tokens: every role's tokens together).",
)
@click.option(
    "--max-cost-usd",
    type=click.FloatRange(min=0, min_open=True),
    help="Override the run's budget in estimated US dollars (limits.max_cost_usd; needs "
    "prices: in the config).",
)
@fail_on_asr_option
@max_error_rate_option
@click.option("--no-progress", is_flag=True, help="Do not draw the progress bar.")
@click.option(
    "--no-preflight",
    is_flag=True,
    help="Skip the test call to each network model (target, attacker, judge models) that "
    "stops a run whose models do not answer before it starts.",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    help="Where attempts run: this process, or Ray actors on one machine or a cluster "
    "(pip install 'redline[ray]'; docs/scale.md) [default: the config's executor, else local].",
)
@click.option(
    "--address",
    metavar="ADDR",
    help="The Ray cluster to join (auto, ray://HOST:10001, HOST:6379); implies --executor ray.",
)
@click.option(
    "--actors",
    type=click.IntRange(min=1),
    help="Ray actors, each running limits.concurrency attempts; implies --executor ray "
    "[default: 2].",
)
@db_option
@user_errors
def scan(
    config: str | None,
    resume: str | None,
    target_url: str | None,
    model: str | None,
    api_key_env: str | None,
    max_target_calls: int | None,
    max_tokens: int | None,
    max_cost_usd: float | None,
    fail_on_asr: tuple[str, ...],
    max_error_rate: float,
    no_progress: bool,
    no_preflight: bool,
    executor: str | None,
    address: str | None,
    actors: int | None,
    db: str | None,
) -> None:
    """Run a red-team campaign and print its summary.

    \b
    redline scan                         quick scan of the embedded local model
    redline scan campaign.yaml           the campaign in a config file
    redline scan --target URL --model M  quick scan of an OpenAI-compatible endpoint
    redline scan --resume RUN_ID         finish an interrupted run (nothing is redone)
    redline scan campaign.yaml --executor ray --address auto   on a Ray cluster

    Exit codes: 0 ok, 2 bad input, 3 ASR above --fail-on-asr (or a gate with
    nothing measured), 4 every attempt failed, 5 stopped at the call budget, 6 more
    attempts in error than --max-error-rate, 130 interrupted. See docs/reports.md.
    """  # noqa: D301 (a real backspace: click's marker for a paragraph kept as written)
    import asyncio

    from rich.console import Console

    from redline.cli.runs import summary_console
    from redline.engine.campaign import execute_run, prepare_run
    from redline.errors import ConfigError
    from redline.report.gates import parse_gates, parse_max_error_rate
    from redline.report.summary import run_summary
    from redline.report.terminal import print_summary
    from redline.report.text import markup_safe
    from redline.store import Store, shown_url

    _check_options(config, resume, target_url, model, api_key_env)
    if executor == "local" and (address is not None or actors is not None):
        raise ConfigError("--address and --actors are for --executor ray, not local")
    gates = parse_gates(fail_on_asr)
    parse_max_error_rate(max_error_rate)
    console = Console(stderr=True)
    store = Store(db)
    campaign = None
    if resume is None or config is not None:
        campaign = _campaign(config, target_url, model, api_key_env)
    if executor == "ray" or (
        executor is None and (address or actors or _config_says_ray(campaign))
    ):
        from redline.engine.ray_executor import import_ray, unsupported_budget

        import_ray()  # a missing extra is said before a run is created
        unsupported_budget(campaign, max_tokens, max_cost_usd)
    prepared = prepare_run(
        store,
        campaign,
        resume=resume,
        max_target_calls=max_target_calls,
        max_tokens=max_tokens,
        max_cost_usd=max_cost_usd,
        preflight=not no_preflight,
    )
    prepared.campaign = _with_executor(prepared.campaign, executor, address, actors)
    done_before = len(prepared.plan) - len(prepared.pending)
    verb = "resuming" if prepared.resumed else "starting"
    console.print(
        f"[bold]{verb} run {prepared.run_id}[/]: {len(prepared.plan)} attempts planned"
        + (f", {done_before} already stored" if done_before else "")
        + f", judge [bold]{markup_safe(prepared.primary_judge)}[/]"
    )
    progress, on_result, on_gate = _progress(
        len(prepared.plan), done_before, console, enabled=not no_progress
    )
    with progress:
        stats = asyncio.run(execute_run(store, prepared, on_result=on_result, on_gate=on_gate))

    out = summary_console()
    summary = run_summary(store, prepared.run_id, attempt_figures=False)  # the table's
    print_summary(summary, out)
    if stats.truncated_replies:
        out.print(
            f"[yellow]{stats.truncated_replies} replies were longer than limits.max_reply_chars "
            f"({prepared.campaign.limits.max_reply_chars:,} characters) and were cut there;[/] "
            "each attempt's transcript meta lists its cuts (truncated_replies)."
        )
    note = getattr(stats, "note", None)
    if note is not None:
        out.print(markup_safe(note()))
    # a store named by REDLINE_DB needs no --db in the hints; a URL's password is never shown
    db_flag = f" --db {shown_url(db)}" if db and db != os.environ.get("REDLINE_DB") else ""
    code = _finish(
        summary, stats.stop_reason, prepared.run_id, db_flag, gates, out, max_error_rate,
        where=store.shown_url.removeprefix("sqlite:///"), budget_reason=stats.budget_reason,
    )  # fmt: skip
    if code == EXIT_INTERRUPTED and stats.signal == signal.SIGTERM:
        code = EXIT_TERMINATED
    sys.exit(code)


DEFAULT_DB = ".redline/redline.db"
EXIT_TERMINATED = 143
"""Stopped by SIGTERM (what CI cancellation sends): 128 + 15, as a shell reports it."""


def _finish(
    summary: dict[str, Any],
    stop_reason: str,
    run_id: str,
    db_flag: str,
    gates: dict[str | None, float],
    out: Any,
    max_error_rate: float = 1.0,
    where: str = DEFAULT_DB,
    budget_reason: str | None = None,
) -> int:
    """Tell the user where things stand and what to run next; return the exit code.

    ``where`` names the store as it may be shown (a URL's password hidden).
    """
    from redline.cli.runs import all_errors_message, every_attempt_failed, gate_code
    from redline.engine.budget import budget_kind
    from redline.report.text import markup_safe

    if stop_reason == "interrupted":
        out.print(
            f"[yellow]Interrupted.[/] {summary['stored_attempts']} of {summary['plan_size']} "
            f"attempts are stored. Resume with: [bold]redline scan --resume {run_id}{db_flag}[/]"
        )
        return EXIT_INTERRUPTED
    if stop_reason == "budget_exhausted":
        reason = budget_reason or "the budget of target calls is spent"
        out.print(
            f"[yellow]Stopped at the {budget_kind(reason)}:[/] {markup_safe(reason)}, with "
            f"{summary['stored_attempts']} of "
            f"{summary['plan_size']} attempts stored. Continue with a larger budget: "
            + _resume_command(reason, run_id, db_flag)
        )
        return EXIT_BUDGET
    if every_attempt_failed(summary):
        out.print(all_errors_message(summary, f"redline report {run_id} --format jsonl{db_flag}"))
        return EXIT_ALL_ERRORS
    out.print(
        f"Results: run [bold]{run_id}[/] in {markup_safe(where)}. "
        f"Next: [bold]redline serve{db_flag}[/] to explore every attempt, label replies and "
        f"try prompts in a browser, or [bold]redline report {run_id} --format html -o "
        f"report.html{db_flag}[/] (or --format json)"
    )
    return gate_code(summary, gates, max_error_rate, out)


def _resume_command(reason: str, run_id: str, db_flag: str) -> str:
    """How to continue a run stopped by the budget named in ``reason`` (rich markup)."""
    for role in ("attacker", "judge"):
        if reason.startswith(f"the {role}'s"):
            return (
                f"raise {role}_limits in its config and run [bold]redline scan CONFIG "
                f"--resume {run_id}{db_flag}[/]"
            )
    if "target calls" in reason:
        flag = "--max-target-calls N"
    else:
        flag = "--max-cost-usd X" if "$" in reason else "--max-tokens N"
    return f"[bold]redline scan --resume {run_id} {flag}{db_flag}[/]"
