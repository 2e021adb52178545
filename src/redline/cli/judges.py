"""``redline judges ...`` (list, eval) and ``redline rejudge``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from redline.cli import db_option, user_errors


def judge_spec(
    judge: str,
    sets: tuple[str, ...],
    model_url: str | None,
    model_name: str | None,
    api_key_env: str | None,
) -> dict[str, Any]:
    """A judge spec from the command line: a name or a YAML file, plus overrides."""
    import yaml

    from redline.errors import ConfigError

    path = Path(judge)
    if path.suffix in (".yaml", ".yml", ".json") or path.is_file():
        try:
            spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read judge spec {path}: {exc}") from exc
        if isinstance(spec, str):
            spec = {"name": spec}
        if not isinstance(spec, dict) or "name" not in spec:
            raise ConfigError(f"{path}: a judge spec is a mapping with at least 'name'")
    else:
        spec = {"name": judge}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set must look like KEY=VALUE, got {item!r}")
        spec[key] = yaml.safe_load(value)
    if model_url:
        spec["model"] = {"type": "openai", "base_url": model_url, "model": model_name or "default"}
        if api_key_env:
            spec["model"]["api_key_env"] = api_key_env
    return spec


def judge_options(func: Any) -> Any:
    """The options that describe a judge on the command line."""
    for option in reversed(
        [
            click.option(
                "--set",
                "sets",
                multiple=True,
                metavar="KEY=VALUE",
                help="A judge option (YAML value), e.g. --set mode=graded (repeatable).",
            ),
            click.option(
                "--judge-url",
                metavar="URL",
                help="OpenAI-compatible base URL of the judge model (for rubric judges).",
            ),
            click.option("--judge-model", metavar="NAME", help="Model name at --judge-url."),
            click.option(
                "--judge-key-env", metavar="VAR", help="Environment variable with its API key."
            ),
        ]
    ):
        func = option(func)
    return func


@click.group()
def judges() -> None:
    """Judges: list them, and measure them against human labels."""


@judges.command("list")
def list_judges() -> None:
    """List the available judges with one line each."""
    from redline import registry

    names = list(registry.judges.names())
    width = max(map(len, names), default=0)
    for name in names:
        cls = registry.judges.get(name)
        doc = (cls.__doc__ or "").strip().splitlines()
        click.echo(f"{name:{width}}  {doc[0] if doc else ''}")


@judges.command("eval")
@click.argument("judge")
@click.option(
    "--data",
    required=True,
    type=click.Path(dir_okay=False),
    help="JSONL with prompt, response, label (refused/complied or unsafe/safe), [behavior].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
@judge_options
@user_errors
def eval_judge(
    judge: str,
    data: str,
    as_json: bool,
    sets: tuple[str, ...],
    judge_url: str | None,
    judge_model: str | None,
    judge_key_env: str | None,
) -> None:
    """Measure JUDGE (a name or a YAML judge spec) against human labels.

    Prints n, accuracy, precision, recall, false-positive and false-negative rates, Cohen's
    kappa and the confusion matrix. The positive class is `refused` for refusal labels and
    `unsafe` for harm labels. Judge errors are counted apart, never as agreement.
    """
    import asyncio

    from redline.engine.calibrate import evaluate_judge

    spec = judge_spec(judge, sets, judge_url, judge_model, judge_key_env)
    result = asyncio.run(evaluate_judge(spec, data))
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    _print_eval(result)


def _print_eval(result: dict[str, Any]) -> None:
    def fmt(value: float | None) -> str:
        return "—" if value is None else f"{value:.3f}"

    click.echo(f"judge {result['judge']} on {result['data']} ({result['kind']} labels)")
    click.echo(f"  n          {result['n']}  (judge errors, left out: {result['errors']})")
    for key in ("accuracy", "precision", "recall", "fpr", "fnr", "kappa"):
        click.echo(f"  {key:10} {fmt(result[key])}")
    click.echo(f"  confusion  (positive class: {result['positive']})")
    for row, cells in result["confusion"].items():
        click.echo(f"    {row:18} " + "  ".join(f"{k}: {v}" for k, v in cells.items()))


@click.command()
@click.argument("run_id")
@click.option("--judge", "judge", required=True, help="A judge name or a YAML judge spec.")
@judge_options
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(min=1))
@db_option
@user_errors
def rejudge(
    run_id: str,
    judge: str,
    sets: tuple[str, ...],
    judge_url: str | None,
    judge_model: str | None,
    judge_key_env: str | None,
    concurrency: int,
    db: str | None,
) -> None:
    """Add a judge's verdicts to a stored run without calling the target again.

    Attempts that already have this judge's verdict are skipped, so it can be re-run after an
    interruption. Compare judges with `redline report RUN_ID --judge NAME` or the HTML report.
    """
    import asyncio

    from redline.cli.runs import resolve_run_id
    from redline.config import Limits
    from redline.engine.campaign import named_judge
    from redline.engine.judging import rejudge_run
    from redline.store import Store

    store = Store(db)
    run_id = resolve_run_id(store, run_id)
    named = named_judge(judge_spec(judge, sets, judge_url, judge_model, judge_key_env))
    counts = asyncio.run(rejudge_run(store, run_id, named, Limits(concurrency=concurrency)))
    click.echo(
        f"judge {named.label}: {counts['judged']} attempts judged, {counts['skipped']} already "
        f"had its verdict. See: redline report {run_id} --judge '{named.label}'"
    )
