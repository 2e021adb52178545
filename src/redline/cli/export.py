"""``redline export``: a run's findings as training data and datasets."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from redline.cli import db_option, user_errors


@click.command()
@click.argument("run_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["sft", "dpo", "guard", "jsonl"]),
    required=True,
    help="sft: refusals for unsafe attempts and helpful answers for look-alikes; dpo: "
    "preference pairs; guard: (prompt, reply, label) rows; jsonl: every attempt.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE.")
@click.option(
    "--dataset-dir",
    type=click.Path(file_okay=False),
    help="Write a dataset folder (data/*.jsonl + README.md card) that Hugging Face `datasets` "
    "loads.",
)
@click.option("--judge", help="Whose verdicts label the rows [default: the run's first judge].")
@click.option(
    "--split-by",
    type=click.Choice(["behavior"]),
    help="Split into train and test by behaviour (a behaviour and its look-alike stay together).",
)
@click.option(
    "--test-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2,
    show_default=True, help="Share of behaviours on the test side (with --split-by).",
)  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split.")
@click.option("--redact", is_flag=True, help="Replace harmful replies with a hash marker.")
@click.option(
    "--license", "license_id", default="other", show_default=True,
    help="Licence identifier for the dataset card.",
)  # fmt: skip
@db_option
@user_errors
def export(
    run_id: str,
    fmt: str,
    output: str | None,
    dataset_dir: str | None,
    judge: str | None,
    split_by: str | None,
    test_fraction: float,
    seed: int,
    redact: bool,
    license_id: str,
    db: str | None,
) -> None:
    """Export a run (RUN_ID, or `latest`) as training data.

    \b
    Without -o or --dataset-dir, rows go to standard output (no split). With
    --split-by behavior and -o FILE: FILE's stem + .train.jsonl / .test.jsonl. Rows that
    still need a written answer (look-alikes the target refused) go to a separate
    *.to_write.jsonl file, never into the training rows. See docs/export.md.
    """  # noqa: D301 (a real backspace: click's marker for a paragraph kept as written)
    from redline.cli.runs import resolve_run_id
    from redline.errors import ConfigError
    from redline.export import formats
    from redline.export.dataset import dataset_card, write_jsonl
    from redline.export.examples import resolve_judge, run_examples
    from redline.export.split import behavior_groups, split_rows
    from redline.report.records import attempt_records
    from redline.store import Store

    if output and dataset_dir:
        raise ConfigError("give -o FILE or --dataset-dir DIR, not both")
    if split_by and not (output or dataset_dir):
        raise ConfigError("--split-by writes two files: give -o FILE or --dataset-dir DIR")
    store = Store(db)
    run_id = resolve_run_id(store, run_id)
    judge = resolve_judge(store, run_id, judge)
    if fmt == "jsonl":
        built = formats.Built(
            rows=list(attempt_records(store, run_id, redact_judge=judge if redact else None))
        )
    else:
        examples = list(run_examples(store, run_id, judge))
        if fmt == "sft":
            built = formats.sft(examples)
        elif fmt == "dpo":
            built = formats.dpo(examples, redact=redact)
        else:
            built = formats.guard(examples, redact=redact)
    if split_by:
        splits = split_rows(built.rows, behavior_groups(store, run_id), test_fraction, seed)
    else:
        splits = {"train": built.rows}
    if dataset_dir:
        folder = Path(dataset_dir)
        for name, rows in splits.items():
            if rows:  # an empty split is named in the card's counts, not loaded
                write_jsonl(folder / "data" / f"{name}.jsonl", rows)
        if built.to_write:
            write_jsonl(folder / "to_write.jsonl", built.to_write)
        card = dataset_card(
            store, run_id, fmt=fmt, judge=judge, splits=splits, to_write=len(built.to_write),
            license_id=license_id, redact=redact, test_fraction=test_fraction if split_by else None,
        )  # fmt: skip
        (folder / "README.md").write_text(card, encoding="utf-8")
        written = [str(folder)]
    elif output:
        path = Path(output)
        written = []
        for name, rows in splits.items():
            target = path.with_name(f"{path.stem}.{name}{path.suffix}") if split_by else path
            write_jsonl(target, rows)
            written.append(str(target))
        if built.to_write:
            todo = path.with_name(f"{path.stem}.to_write{path.suffix or '.jsonl'}")
            write_jsonl(todo, built.to_write)
            written.append(str(todo))
    else:
        for row in built.rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        written = []
    counts = ", ".join(f"{name} {len(rows)}" for name, rows in splits.items())
    message = f"{fmt}: {counts} rows from run {run_id} (judge {judge})"
    if built.to_write:
        message += f"; {len(built.to_write)} rows waiting for a written answer"
    if written:
        message += " -> " + ", ".join(written)
    click.echo(message, err=True)
