"""``redline judges ...`` (list, eval) and ``redline rejudge``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from redline.cli import db_option, user_errors
from redline.cli.runs import max_error_rate_option


def judge_spec(
    judge: str,
    sets: tuple[str, ...],
    model_url: str | None,
    model_name: str | None,
    api_key_env: str | None,
) -> dict[str, Any]:
    """A judge spec from the command line: a name or a YAML file, plus overrides.

    ``default`` (unless a file of that name exists) is the default judge of campaigns,
    :data:`redline.config.DEFAULT_JUDGE`.
    """
    import copy

    import yaml

    from redline.config import DEFAULT_JUDGE
    from redline.errors import ConfigError

    path = Path(judge)
    if judge == "default" and not path.is_file():
        spec = copy.deepcopy(DEFAULT_JUDGE)
        spec = {"name": spec} if isinstance(spec, str) else spec
    elif path.suffix in (".yaml", ".yml", ".json") or path.is_file():
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
    """List the available judges with one line each (the default judge is marked)."""
    from redline import registry
    from redline.config import DEFAULT_JUDGE

    default = DEFAULT_JUDGE if isinstance(DEFAULT_JUDGE, str) else DEFAULT_JUDGE.get("name")
    names = list(registry.judges.names())
    width = max(map(len, names), default=0)
    for name in names:
        cls = registry.judges.get(name)
        doc = (cls.__doc__ or "").strip().splitlines()
        mark = " [default]" if name == default else ""
        click.echo(f"{name:{width}}  {doc[0] if doc else ''}{mark}")


@judges.command("eval")
@click.argument("judge")
@click.option(
    "--data",
    type=click.Path(dir_okay=False),
    help="JSONL with prompt, response, label (refused/complied/partial or unsafe/safe), "
    "[behavior, category, benign, messages].",
)
@click.option(
    "--run",
    "run_id",
    metavar="RUN_ID",
    help="Instead of --data: the human labels of this stored run (made in `redline serve`; "
    "`latest` for the newest run), re-judged with JUDGE.",
)
@click.option(
    "--kind",
    type=click.Choice(["harm", "refusal"]),
    default=None,
    help="With --run: which labels to measure against [default: harm].",
)
@click.option("--labeller", metavar="NAME", help="With --run: only this person's labels.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
@click.option(
    "--save",
    is_flag=True,
    help="Store the judge's sensitivity and specificity (harm labels only) in the results "
    "store: reports then show its ASR corrected for them.",
)
@judge_options
@db_option
@user_errors
def eval_judge(
    judge: str,
    data: str | None,
    run_id: str | None,
    kind: str | None,
    labeller: str | None,
    as_json: bool,
    save: bool,
    sets: tuple[str, ...],
    judge_url: str | None,
    judge_model: str | None,
    judge_key_env: str | None,
    db: str | None,
) -> None:
    """Measure JUDGE (a name, `default`, or a YAML judge spec) against human labels.

    Prints n, accuracy, precision, recall (sensitivity), specificity, false-positive and
    false-negative rates, Cohen's kappa and the confusion matrix. The kind of label picks the
    question: `refused`/`complied`/`partial` the refusal question (positive class `refused`; a
    partial refusal is a refusal), `unsafe`/`safe` the harm question (positive class
    `unsafe`). Judge errors are counted apart, never as agreement. `default` is the judge
    campaigns use when they name none.

    With --save (harm labels only), the judge's measured sensitivity and specificity are
    stored in the results store (--db) under the judge's label; reports of runs judged by it
    then show the attack success rate corrected for them (Rogan-Gladen; see docs/reports.md).

    With --run RUN_ID instead of --data, the labels are the run's current human labels
    (`--kind harm`: harmful behaviours labelled unsafe/safe; `--kind refusal`: replies labelled
    refused/partial/complied): exactly the file `redline labels export RUN_ID --kind KIND`
    writes, re-judged with JUDGE, with the same figures.
    """
    import asyncio

    from redline.engine.calibrate import evaluate_judge, evaluate_run
    from redline.errors import ConfigError, DataError
    from redline.report.calibration import load_labelled, parse_labelled, run_labelled_records

    if (data is None) == (run_id is None):
        raise ConfigError(
            "judges eval needs exactly one of --data FILE (a labelled JSONL file) or --run "
            "RUN_ID (a run's human labels)" + ("; both were given" if data is not None else "")
        )
    if data is not None and (kind is not None or labeller is not None):
        raise ConfigError("--kind and --labeller go with --run, not with --data FILE")
    spec = judge_spec(judge, sets, judge_url, judge_model, judge_key_env)
    store = None
    if run_id is not None:
        from redline.cli.runs import resolve_run_id
        from redline.store import Store

        store = Store(db)
        run_id = resolve_run_id(store, run_id)
        store.get_run(run_id)
    source = data if data is not None else f"run {run_id}"
    if save:  # checked before any judge call
        if data is not None:
            kind, examples = load_labelled(data)
        else:
            kind, examples = parse_labelled(
                enumerate(run_labelled_records(store, str(run_id), kind or "harm", labeller), 1),
                source,
            )
        if kind != "harm":
            raise DataError(
                f"{source}: --save stores harm calibrations only (labels unsafe/safe); this "
                f"has {kind} labels (refused/complied/partial), which measure the refusal "
                "question, not the harm rate that the corrected ASR corrects"
            )
        labels = {example.label for example in examples}
        if labels != {"unsafe", "safe"}:
            raise DataError(
                f"{source}: --save needs both unsafe and safe examples (sensitivity and "
                f"specificity); this has only {labels.pop()} ones"
            )
    if data is not None:
        result = asyncio.run(evaluate_judge(spec, data))
    else:
        assert store is not None and run_id is not None
        result = asyncio.run(evaluate_run(spec, store, run_id, kind or "harm", labeller))
    saved = _save_calibration(result, db) if save else None
    if as_json:
        if saved is not None:
            result = {**result, "saved_calibration": saved[0]}
        click.echo(json.dumps(result, indent=2))
    else:
        _print_eval(result)
    if saved is not None:
        from redline.report.correction import MIN_YOUDEN

        youden = result["sensitivity"] + result["specificity"] - 1
        effect = (
            f"the judge is too weak to correct (sensitivity + specificity - 1 = {youden:.3f} "
            f"<= {MIN_YOUDEN}): reports of its runs will say so"
            if youden <= MIN_YOUDEN
            else "reports of its runs now show the judge-corrected ASR"
        )
        click.echo(
            f"saved calibration {saved[0]} of judge {result['judge']} (sensitivity "
            f"{result['sensitivity']:.3f}, specificity {result['specificity']:.3f}) to "
            f"{saved[1]}; {effect}",
            err=True,
        )


def _save_calibration(result: dict[str, Any], db: str | None) -> tuple[int, str]:
    """Store a harm calibration from ``judges eval`` figures; returns its id and the store."""
    import time

    from redline import __version__
    from redline.errors import DataError
    from redline.store import Store

    confusion = result["confusion"]
    tp = confusion["label=unsafe"]["judge=unsafe"]
    tn = confusion["label=safe"]["judge=safe"]
    if not result["positives"] or not result["negatives"]:
        raise DataError(
            f"{result['data']}: nothing saved: the judge failed on every "
            f"{'unsafe' if not result['positives'] else 'safe'} example ({result['errors']} "
            "judge errors), so its sensitivity or specificity is unmeasured"
        )
    store = Store(db)
    saved = store.add_calibration(
        {
            "judge": result["judge"],
            "judge_version": result["judge_version"],
            "kind": "harm",
            "sensitivity": result["sensitivity"],
            "specificity": result["specificity"],
            "true_positives": tp,
            "positives": result["positives"],
            "true_negatives": tn,
            "negatives": result["negatives"],
            "errors": result["errors"],
            "data_name": Path(result["data"]).name,
            "data_sha256": result["data_sha256"],
            "created_at": time.time(),
            "redline_version": __version__,
        }
    )
    return saved, store.url


def _print_eval(result: dict[str, Any]) -> None:
    def fmt(value: float | None) -> str:
        return "—" if value is None else f"{value:.3f}"

    click.echo(
        f"judge {result['judge']} (version {result['judge_version']}) on {result['data']} "
        f"({result['kind']} labels)"
    )
    click.echo(f"  n           {result['n']}  (judge errors, left out: {result['errors']})")
    for key in ("accuracy", "precision", "recall", "specificity", "fpr", "fnr", "kappa"):
        click.echo(f"  {key:11} {fmt(result[key])}")
    click.echo(f"  confusion  (positive class: {result['positive']})")
    for row, cells in result["confusion"].items():
        click.echo(f"    {row:18} " + "  ".join(f"{k}: {v}" for k, v in cells.items()))


@click.command()
@click.argument("run_id")
@click.option("--judge", "judge", required=True, help="A judge name or a YAML judge spec.")
@judge_options
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(min=1))
@max_error_rate_option
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
    max_error_rate: float,
    db: str | None,
) -> None:
    """Add a judge's verdicts to a stored run without calling the target again.

    Attempts that already have this judge's verdict are skipped, so it can be re-run after an
    interruption; an `error` verdict is judged again and replaced (a judge model that was down,
    say). Compare judges with `redline report RUN_ID --judge NAME` or the HTML report.

    Exit codes: 4 when every new verdict is an error (a judge model that cannot be reached,
    say), 6 when more of the judge's verdicts are errors than --max-error-rate allows.
    """
    import asyncio
    from collections import Counter

    from rich.console import Console

    from redline.cli import EXIT_ALL_ERRORS
    from redline.cli.runs import gate_code, resolve_run_id
    from redline.config import Limits
    from redline.engine.campaign import named_judge
    from redline.engine.judging import rejudge_run
    from redline.report.errors import causes_line
    from redline.report.gates import parse_max_error_rate
    from redline.report.summary import run_summary
    from redline.report.text import markup_safe, printable
    from redline.store import Store

    parse_max_error_rate(max_error_rate)
    store = Store(db)
    run_id = resolve_run_id(store, run_id)
    named = named_judge(judge_spec(judge, sets, judge_url, judge_model, judge_key_env))
    outcomes: Counter[str] = Counter()
    counts = asyncio.run(
        rejudge_run(
            store,
            run_id,
            named,
            Limits(concurrency=concurrency),
            on_verdict=lambda verdict: outcomes.update([verdict.outcome.value]),
        )
    )
    summary = run_summary(store, run_id, named.label)
    label = markup_safe(named.label)
    causes = summary["error_causes"]
    console = Console(stderr=True, highlight=False)
    judged, errors = counts["judged"], outcomes["error"]
    if judged and errors == judged:
        console.print(
            f"[bold red]judge {label}: every one of the {judged} new verdicts is an error[/]; "
            "nothing was judged."
            + (f" Causes: {markup_safe(causes_line(causes))}." if causes else "")
            + " Check the judge (its model's URL and name); the error verdicts are stored "
            f"under {label}. Every error: redline report {run_id} --judge '{label}' "
            "--format jsonl"
        )
        sys.exit(EXIT_ALL_ERRORS)
    breakdown = ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
    click.echo(
        f"judge {printable(named.label)}: {judged} attempts judged"
        + (f" ({breakdown})" if breakdown else "")
        + f", {counts['skipped']} already had its verdict. See: redline report {run_id} "
        f"--judge '{printable(named.label)}'"
    )
    code = gate_code(summary, {}, max_error_rate, console)
    if code:
        sys.exit(code)
