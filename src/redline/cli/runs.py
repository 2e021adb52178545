"""``redline runs`` and ``redline report``: read what the store holds."""

from __future__ import annotations

import json
import sys

import click

from redline.cli import EXIT_ASR_GATE, db_option, user_errors


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


fail_on_asr_option = click.option(
    "--fail-on-asr",
    "fail_on_asr",
    multiple=True,
    metavar="[CATEGORY=]RATE",
    help="Exit 3 when attack success (the harm rate, 0-1) is above RATE, overall or for CATEGORY "
    "(repeatable).",
)


def _write(text: str, output: str | None) -> None:
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text if text.endswith("\n") else text + "\n")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


@click.command()
@click.argument("run_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "html", "junit"]),
    default="table",
    show_default=True,
    help="table: terminal summary; json: every figure; html: self-contained report; "
    "junit: one test case per behaviour x attack, failed when unsafe.",
)
@click.option("--judge", help="Whose verdicts to report [default: the run's first judge].")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file.")
@click.option(
    "--redact",
    is_flag=True,
    help="html: replace unsafe replies with a hash and their length (for reports to share).",
)
@fail_on_asr_option
@db_option
@user_errors
def report(
    run_id: str,
    fmt: str,
    judge: str | None,
    output: str | None,
    redact: bool,
    fail_on_asr: tuple[str, ...],
    db: str | None,
) -> None:
    """Report on a run (RUN_ID, or `latest`).

    The JSON form has run_id, totals, by_category, by_attack, by_category_attack and
    over_refusal, each with counts, the attack success rate (asr = unsafe (harm) / judged),
    the non-refusal rate (nonrefusal = not refused / judged for refusal) and their Wilson 95%
    intervals; with a saved calibration of the judge (`redline judges eval --save`), also the
    judge-corrected ASR. See docs/results.md. Exit code 3 when a --fail-on-asr gate (on ASR,
    the harm rate) is exceeded.
    """
    from redline.report.gates import failed_gates, parse_gates
    from redline.report.summary import run_summary
    from redline.report.terminal import print_summary
    from redline.store import Store

    gates = parse_gates(fail_on_asr)
    store = Store(db)
    summary = run_summary(store, resolve_run_id(store, run_id), judge)
    if fmt == "json":
        _write(json.dumps(summary, indent=2), output)
    elif fmt == "html":
        from redline.report.html import render_html

        _write(render_html(store, summary, redact=redact), output)
    elif fmt == "junit":
        from redline.report.junit import render_junit

        _write(render_junit(store, summary), output)
    elif output:
        from rich.console import Console

        with open(output, "w", encoding="utf-8") as handle:
            print_summary(summary, Console(file=handle, width=120))
    else:
        print_summary(summary, summary_console())
    if output:
        click.echo(f"wrote {output}", err=True)
    failures = failed_gates(summary, gates)
    for line in failures:
        click.secho(f"gate failed: {line}", fg="red", err=True)
    if failures:
        sys.exit(EXIT_ASR_GATE)


@click.command()
@click.argument("run_a")
@click.argument("run_b")
@click.option("--judge", help="Compare this judge's verdicts [default: RUN_A's first judge].")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option(
    "--fail-on-regression",
    is_flag=True,
    help="Exit 3 when attack success (harm) rose significantly (McNemar p < 0.05).",
)
@db_option
@user_errors
def diff(
    run_a: str,
    run_b: str,
    judge: str | None,
    as_json: bool,
    fail_on_regression: bool,
    db: str | None,
) -> None:
    """Compare two runs of the same plan (for example before and after a fine-tune).

    Pairs attempts by id and reports new failures, fixed ones, and the change in attack
    success (harm), non-refusal and over-refusal with McNemar's test on the paired outcomes.
    The regression gate is on attack success only.
    """
    from redline.report.diff import diff_runs
    from redline.store import Store

    store = Store(db)
    result = diff_runs(store, resolve_run_id(store, run_a), resolve_run_id(store, run_b), judge)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        _print_diff(result)
    asr = result["asr"]
    if (
        fail_on_regression
        and asr["change"] is not None
        and asr["change"] > 0
        and asr["mcnemar"]["p_value"] < 0.05
    ):
        click.secho("regression: attack success rose significantly", fg="red", err=True)
        sys.exit(EXIT_ASR_GATE)


def _print_diff(result: dict) -> None:
    from rich.table import Table

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{100 * value:.1f}%"

    table = Table(title=f"{result['run_a']} → {result['run_b']} · judge {result['judge']}")
    for column in ("", "run A", "run B", "change", "McNemar p", "paired"):
        table.add_column(column, justify="right" if column else "left")
    for label, key, n in (
        ("attack success (harm)", "asr", result["paired"]["harmful"]),
        ("non-refusal", "nonrefusal", result["nonrefusal"]["a"]["n"]),
        ("over-refusal", "over_refusal", result["paired"]["benign"]),
    ):
        figures = result[key]
        if key == "nonrefusal" and not n:
            continue  # the judge does not read refusal
        change = figures["change"]
        table.add_row(
            label,
            pct(figures["a"]["rate"]),
            pct(figures["b"]["rate"]),
            "—" if change is None else f"{100 * change:+.1f} pts",
            f"{figures['mcnemar']['p_value']:.3g} ({figures['mcnemar']['method']})",
            str(n),
        )
    console = summary_console()
    console.print(table)
    console.print(
        f"new failures: [red]{len(result['new_failures'])}[/] · fixed: "
        f"[green]{len(result['fixed'])}[/] · newly over-refusing: {len(result['newly_refusing'])}"
        f" · no longer over-refusing: {len(result['no_longer_refusing'])} · pairs with an "
        f"error: {result['paired']['errors']} · attempts in only one run: "
        f"{result['only_in_one_run']}"
    )
    for entry in result["new_failures"][:20]:
        console.print(
            f"  [red]new failure[/] {entry['category']} · {entry['attack']} · {entry['attempt_id']}"
        )
