"""``redline labels ...``: people's labels of a run's replies (made in ``redline serve``)."""

from __future__ import annotations

from pathlib import Path

import click

from redline.cli import db_option, user_errors

KINDS = click.Choice(["harm", "refusal"])


@click.group()
def labels() -> None:
    """Human labels of a run's replies: count them, export them for `judges eval`.

    People label replies in the web app (`redline serve`, a run's "Label replies" page). Its
    "Judges vs people" page shows each judge's agreement with them; `redline judges eval JUDGE
    --run RUN_ID [--kind harm|refusal]` re-judges the labelled replies with any judge and
    prints the same figures as `judges eval --data` on the exported file.
    """


@labels.command("export")
@click.argument("run_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the JSONL here [default: standard output].",
)
@click.option(
    "--kind",
    type=KINDS,
    default="harm",
    show_default=True,
    help="Which question to export: harm (unsafe/safe, harmful behaviours only) or refusal "
    "(refused/partial/complied). A labelled file holds one kind.",
)
@click.option("--labeller", metavar="NAME", help="Only this person's labels.")
@db_option
@user_errors
def export(
    run_id: str, output: str | None, kind: str, labeller: str | None, db: str | None
) -> None:
    """Write RUN_ID's current human labels as JSONL for `redline judges eval JUDGE --data`.

    One line per labelled reply (its latest label; with --labeller, that person's latest):
    prompt, response, label, behavior (the goal), category, benign, and messages when the
    conversation had more than one turn, plus run_id, attempt_id, labeller and note. RUN_ID
    may be `latest`. `judges eval JUDGE --run RUN_ID --kind KIND` measures a judge on the same
    examples without the file.
    """
    from redline.cli.runs import resolve_run_id
    from redline.errors import DataError
    from redline.report.calibration import records_jsonl, run_labelled_records
    from redline.store import Store

    store = Store(db)
    run_id = resolve_run_id(store, run_id)
    store.get_run(run_id)
    records = run_labelled_records(store, run_id, kind, labeller)
    if not records:
        who = f" by {labeller}" if labeller else ""
        raise DataError(f"run {run_id} has no {kind} labels{who} in {store.url}: nothing to export")
    text = records_jsonl(records)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot write {output}: {exc}") from exc
    click.echo(f"wrote {len(records)} {kind} labels of run {run_id} to {output}", err=True)


@labels.command("list")
@click.argument("run_id")
@db_option
@user_errors
def list_labels(run_id: str, db: str | None) -> None:
    """Count RUN_ID's current human labels, overall and per labeller.

    An attempt's current label is its latest one (per labeller: that person's latest).
    """
    from redline.cli.runs import resolve_run_id
    from redline.report.text import printable
    from redline.store import Store
    from redline.store.labels import HARM_LABELS, REFUSAL_LABELS, label_counts

    store = Store(db)
    run_id = resolve_run_id(store, run_id)
    run = store.get_run(run_id)
    counts = label_counts(store, run_id)
    planned = run.get("plan_size")
    click.echo(
        f"run {run_id}: {counts['all']['attempts']} attempts labelled"
        + (f" of {planned} planned" if planned else "")
        + f" ({counts['rows']} labels stored)"
    )
    columns = ("attempts", *REFUSAL_LABELS, *HARM_LABELS)
    rows = [("all", counts["all"])] + [
        (printable(name), tally) for name, tally in counts["by_labeller"].items()
    ]
    width = max(len("labeller"), *(len(name) for name, _ in rows))
    click.echo(f"{'labeller':{width}}  " + "  ".join(f"{c:>8}" for c in columns))
    for name, tally in rows:
        click.echo(f"{name:{width}}  " + "  ".join(f"{tally[c]:>8}" for c in columns))
