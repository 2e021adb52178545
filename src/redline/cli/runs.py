"""``redline runs`` and ``redline report``: read what the store holds."""

from __future__ import annotations

import json
import sys

import click

from redline.cli import db_option, user_errors


def summary_console():
    """A console for tables: the terminal's width, or 120 columns when output is piped."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=120)


def resolve_run_id(store, run_id: str) -> str:
    """``latest`` means the most recent run; anything else is taken as given."""
    from redline.errors import StoreError

    if run_id != "latest":
        return run_id
    latest = store.latest_run_id()
    if latest is None:
        raise StoreError(f"{store.url} has no runs yet: start one with `redline scan`")
    return latest


def _describe_target(target: dict) -> str:
    for key in ("model", "url", "function"):
        if target.get(key):
            return f"{target.get('type')}: {target[key]}"
    return str(target.get("type"))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@db_option
@user_errors
def runs(as_json: bool, db: str | None) -> None:
    """List the runs in the store, newest first."""
    import datetime

    from rich.console import Console
    from rich.table import Table

    from redline.store import Store

    rows = Store(db).list_runs()
    if as_json:
        fields = ("id", "name", "status", "created_at", "plan_size", "done", "redline_version")
        click.echo(json.dumps([{k: row[k] for k in fields} for row in rows], indent=2))
        return
    if not rows:
        click.echo("No runs yet. Start one with: redline scan")
        return
    table = Table(title="runs")
    for column in ("run", "name", "started", "status", "attempts", "target"):
        table.add_column(column)
    for row in rows:
        started = datetime.datetime.fromtimestamp(row["created_at"]).strftime("%Y-%m-%d %H:%M")
        table.add_row(
            row["id"],
            row["name"] or "",
            started,
            row["status"],
            f"{row['done']}/{row['plan_size']}",
            _describe_target(json.loads(row["target_json"])),
        )
    Console().print(table)


@click.command()
@click.argument("run_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table: the terminal summary; json: every figure, machine-readable.",
)
@click.option("--judge", help="Whose verdicts to report [default: the run's first judge].")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to a file."
)
@db_option
@user_errors
def report(run_id: str, fmt: str, judge: str | None, output: str | None, db: str | None) -> None:
    """Report on a run (RUN_ID, or `latest`).

    The JSON form has run_id, totals, by_category, by_attack and over_refusal, each with
    counts, the attack success rate (unsafe / judged) and its Wilson 95% interval.
    """
    from rich.console import Console

    from redline.report.summary import run_summary
    from redline.report.terminal import print_summary
    from redline.store import Store

    store = Store(db)
    summary = run_summary(store, resolve_run_id(store, run_id), judge)
    if fmt == "json":
        text = json.dumps(summary, indent=2)
        if output:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
        else:
            sys.stdout.write(text + "\n")
        return
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            print_summary(summary, Console(file=handle, width=120))
        return
    print_summary(summary, summary_console())
