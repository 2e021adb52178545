"""``redline runs`` and ``redline report``: read what the store holds."""

from __future__ import annotations

import json
import sys

import click

from redline.cli import EXIT_ALL_ERRORS, EXIT_ASR_GATE, EXIT_OK, db_option, user_errors

EXIT_ERROR_RATE = 6
"""More attempts ended in error than ``--max-error-rate`` allows (see docs/reports.md)."""


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


def _run_asr(store, row: dict) -> dict:
    """The run's attack success by its first judge: ``{"judge", "asr", "unsafe", "judged"}``."""
    from redline.report.metrics import Tally

    judges = json.loads(row["judges_json"])
    judge = judges[0] if judges else None
    tally = Tally()
    if judge is not None:
        for outcome, n in store.outcome_counts(row["id"], judge):
            if not outcome.benign:
                tally.add(outcome.outcome, n=n)
    figures = tally.as_dict()
    return {
        "judge": judge,
        "asr": figures["asr"],
        "unsafe": figures["unsafe"],
        "judged": figures["judged"],
        "error": figures["error"],
    }


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@db_option
@user_errors
def runs(as_json: bool, db: str | None) -> None:
    """List the runs in the store, newest first, with their attack success rate (ASR).

    ASR is unsafe / judged on harmful behaviours by the run's first judge (— when nothing was
    judged); see `redline report RUN_ID` for every figure.
    """
    import datetime

    from rich import box
    from rich.console import Console
    from rich.table import Table

    from redline.report.text import plain
    from redline.store import Store
    from redline.targets.base import target_name

    store = Store(db)
    rows = store.list_runs()
    if as_json:
        fields = (
            "id", "name", "status", "status_detail", "created_at", "plan_size", "done",
            "redline_version",
        )  # fmt: skip
        click.echo(
            json.dumps(
                [{**{k: row[k] for k in fields}, **_run_asr(store, row)} for row in rows],
                indent=2,
            )
        )
        return
    if not rows:
        click.echo("No runs yet. Start one with: redline scan")
        return
    table = Table(title="runs", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    # the id is what every other command takes: never cut it (folded only if the terminal is
    # narrower than the id itself); the free-text columns fold to make room, never the id
    widest = max(len(row["id"]) for row in rows)
    table.add_column("run", no_wrap=True, overflow="fold", min_width=widest)
    table.add_column("status", overflow="fold", min_width=9)
    table.add_column("attempts", justify="right", no_wrap=True)
    table.add_column("ASR", justify="right", no_wrap=True)
    table.add_column("started", overflow="fold", min_width=10)
    table.add_column("name · target", overflow="fold", ratio=1)
    for row in rows:
        started = datetime.datetime.fromtimestamp(row["created_at"]).strftime("%Y-%m-%d %H:%M")
        asr = _run_asr(store, row)
        table.add_row(
            plain(row["id"]),
            _status_cell(row),
            f"{row['done']}/{row['plan_size']}",
            "—" if asr["asr"] is None else f"{100 * asr['asr']:.1f}%",
            started,
            plain(
                " · ".join(filter(None, [row["name"], target_name(json.loads(row["target_json"]))]))
            ),
        )
    Console().print(table)


def _status_cell(row: dict):
    """A run's status, and under it, muted, why (``status_detail``: the budget that stopped it).

    Short (``call budget spent``): ``runs --json`` has the whole sentence.
    """
    from redline.engine.budget import status_note
    from redline.report.text import plain

    cell = plain(row["status"])
    note = status_note(row["status"], row.get("status_detail"))
    if note:
        cell.append("\n")
        cell.append_text(plain(note, style="dim"))
    return cell


fail_on_asr_option = click.option(
    "--fail-on-asr",
    "fail_on_asr",
    multiple=True,
    metavar="[CATEGORY=]RATE",
    help="Exit 3 when attack success (the harm rate, 0-1) is above RATE, overall or for CATEGORY "
    "(repeatable); a gate with nothing measured (every attempt it covers in error) fails too.",
)


def max_error_rate_option(func):
    """``--max-error-rate``: fail when too many attempts ended in error."""
    from redline.report.gates import DEFAULT_MAX_ERROR_RATE

    return click.option(
        "--max-error-rate",
        type=float,
        default=DEFAULT_MAX_ERROR_RATE,
        show_default=True,
        metavar="RATE",
        help="Exit 6 when more than RATE (0-1) of the attempts on harmful behaviours, or of those "
        "on benign look-alikes, ended in error (1 turns the check off).",
    )(func)


def every_attempt_failed(summary: dict) -> bool:
    """Whether the run has attempts and every one of them ended in error."""
    errors = summary["error_rates"]["all"]
    return bool(errors["attempts"]) and errors["error"] == errors["attempts"]


def all_errors_message(summary: dict, see: str) -> str:
    """Rich markup: every attempt failed, its causes, and where to see them."""
    from redline.report.errors import causes_line
    from redline.report.text import markup_safe

    errors = summary["error_rates"]["all"]
    causes = summary.get("error_causes") or []
    return (
        f"[bold red]Every attempt ended in error ({errors['error']} of {errors['attempts']}).[/] "
        "The target could not be reached or its replies could not be judged; nothing was "
        "measured."
        + (f" Causes: {markup_safe(causes_line(causes))}." if causes else "")
        + f" See every error with: {markup_safe(see)}"
    )


def gate_code(summary: dict, gates: dict, max_error_rate: float, console) -> int:
    """Print each failed gate and error-rate check on ``console``; return the exit code.

    3 when a ``--fail-on-asr`` gate failed (a gate with nothing measured fails), else 6 when the
    share of attempts in error is above ``max_error_rate``, else 0.
    """
    from redline.report.gates import error_rate_failures, failed_gates
    from redline.report.text import markup_safe

    failures = failed_gates(summary, gates)
    for line in failures:
        console.print(f"[bold red]gate failed:[/] {markup_safe(line)}")
    too_many = error_rate_failures(summary, max_error_rate)
    for line in too_many:
        console.print(f"[bold red]too many errors:[/] {markup_safe(line)}")
    if too_many and summary.get("error_causes"):
        from redline.report.errors import causes_line

        console.print(f"causes: {markup_safe(causes_line(summary['error_causes']))}")
    if failures:
        return EXIT_ASR_GATE
    return EXIT_ERROR_RATE if too_many else EXIT_OK


def _write(text: str, output: str | None) -> None:
    _write_lines([text if text.endswith("\n") else text + "\n"], output)


def _write_lines(lines, output: str | None) -> None:
    """Write text pieces to ``output`` (a file) or stdout, as they come."""
    if output:
        with open(output, "w", encoding="utf-8", errors="backslashreplace") as handle:
            handle.writelines(lines)
    else:
        for line in lines:
            sys.stdout.write(line)


@click.command()
@click.argument("run_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "jsonl", "html", "junit"]),
    default="table",
    show_default=True,
    help="table: terminal summary; json: every figure; jsonl: one line per attempt (prompts, "
    "reply, verdicts, error, calls); html: self-contained report; junit: one test case per "
    "behaviour x attack, failed when unsafe.",
)
@click.option("--judge", help="Whose verdicts to report [default: the run's first judge].")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file.")
@click.option(
    "--redact",
    is_flag=True,
    help="html, jsonl: replace unsafe replies with a hash and their length (for reports to share).",
)
@fail_on_asr_option
@max_error_rate_option
@db_option
@user_errors
def report(
    run_id: str,
    fmt: str,
    judge: str | None,
    output: str | None,
    redact: bool,
    fail_on_asr: tuple[str, ...],
    max_error_rate: float,
    db: str | None,
) -> None:
    """Report on a run (RUN_ID, or `latest`).

    The JSON form has run_id, totals, by_category, by_attack, by_category_attack and
    over_refusal, each with counts, the attack success rate (asr = unsafe (harm) / judged),
    the non-refusal rate (nonrefusal = not refused / judged for refusal) and their Wilson 95%
    intervals; with a saved calibration of the judge (`redline judges eval --save`), also the
    judge-corrected ASR; error_causes says why attempts failed. See docs/results.md.

    Exit codes (after writing the report): 3 when a --fail-on-asr gate (on ASR, the harm rate)
    is exceeded or has nothing measured, 4 when every attempt ended in error, 6 when more
    attempts ended in error than --max-error-rate allows (--max-error-rate 1 and no gate: no
    check, exit 0). See docs/reports.md.
    """
    from rich.console import Console

    from redline.report.gates import parse_gates, parse_max_error_rate
    from redline.report.summary import run_summary
    from redline.report.terminal import print_summary
    from redline.store import Store

    gates = parse_gates(fail_on_asr)
    parse_max_error_rate(max_error_rate)
    store = Store(db)
    # diversity and success against N read every transcript; only json and html show them
    shown = fmt in ("json", "html")
    summary = run_summary(store, resolve_run_id(store, run_id), judge, attempt_figures=shown)
    if fmt == "json":
        _write(json.dumps(summary, indent=2), output)
    elif fmt == "jsonl":
        from redline.report.records import jsonl_lines

        lines = jsonl_lines(
            store, summary["run_id"], redact_judge=summary["judge"] if redact else None
        )
        _write_lines(lines, output)
    elif fmt == "html":
        from redline.report.html import render_html

        _write(render_html(store, summary, redact=redact), output)
    elif fmt == "junit":
        from redline.report.junit import render_junit

        _write(render_junit(store, summary), output)
    elif output:
        with open(output, "w", encoding="utf-8", errors="backslashreplace") as handle:
            print_summary(summary, Console(file=handle, width=120))
    else:
        print_summary(summary, summary_console())
    if output:
        click.echo(f"wrote {output}", err=True)
    console = Console(stderr=True, highlight=False)
    checking = bool(gates) or max_error_rate < 1
    if checking and every_attempt_failed(summary):
        see = f"redline report {summary['run_id']} --format jsonl"
        console.print(all_errors_message(summary, see))
        sys.exit(EXIT_ALL_ERRORS)
    code = gate_code(summary, gates, max_error_rate, console)
    if code:
        sys.exit(code)


@click.command()
@click.argument("run_a")
@click.argument("run_b")
@click.option("--judge", help="Compare this judge's verdicts [default: RUN_A's first judge].")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option(
    "--fail-on-regression",
    is_flag=True,
    help="Exit 3 when attack success (harm) rose significantly (McNemar p < 0.05), or when no "
    "harmful attempt was judged in both runs (nothing to compare).",
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
    The regression gate is on attack success only, and fails when there is nothing to compare.
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
    if not fail_on_regression:
        return
    if not result["paired"]["harmful"]:
        click.secho(
            "regression gate failed: nothing to compare: no harmful attempt was judged (unsafe "
            f"or safe) in both runs ({result['paired']['errors']} pair(s) with an error, "
            f"{result['only_in_one_run']} attempt(s) in only one run); a gate with nothing "
            "measured fails",
            fg="red",
            err=True,
        )
        sys.exit(EXIT_ASR_GATE)
    if asr["change"] is not None and asr["change"] > 0 and asr["mcnemar"]["p_value"] < 0.05:
        click.secho("regression: attack success rose significantly", fg="red", err=True)
        sys.exit(EXIT_ASR_GATE)


def _print_diff(result: dict) -> None:
    from rich.table import Table

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{100 * value:.1f}%"

    from redline.report.text import markup_safe, plain

    table = Table(title=plain(f"{result['run_a']} → {result['run_b']} · judge {result['judge']}"))
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
            f"  [red]new failure[/] {markup_safe(entry['category'])} · "
            f"{markup_safe(entry['attack'])} · {markup_safe(entry['attempt_id'])}"
        )
