"""The ``redline`` command.

Command groups live in their own modules and import heavy code lazily, so ``redline --help``
starts fast.

Exit codes (also in ``docs/cli.md``):

====  ==========================================================================
0     success
1     an unexpected internal error (a bug: please report it)
2     bad usage, config, data file, plugin name or store
3     ``--fail-on-asr``: the attack success rate is above the threshold
4     every attempt ended in error (the target could not be reached or judged)
5     the run stopped early at its call budget (resume it with a larger budget)
130   interrupted with Ctrl-C (resume it with ``redline scan --resume RUN_ID``)
====  ==========================================================================
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_ASR_GATE = 3
EXIT_ALL_ERRORS = 4
EXIT_BUDGET = 5
EXIT_INTERRUPTED = 130

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(func: F) -> F:
    """Turn :class:`~redline.errors.RedlineError` into one red line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from redline.errors import RedlineError

        try:
            return func(*args, **kwargs)
        except RedlineError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(EXIT_USAGE)
        except KeyboardInterrupt:
            click.secho("interrupted", fg="yellow", err=True)
            sys.exit(EXIT_INTERRUPTED)

    return wrapper  # type: ignore[return-value]


db_option = click.option(
    "--db",
    metavar="PATH",
    default=None,
    envvar="REDLINE_DB",
    help="Results store: a SQLite file or a SQLAlchemy URL [default: .redline/redline.db].",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="redline")
def cli() -> None:
    """redline: red-team large language models and measure the results honestly.

    Start with `redline scan` (a quick scan of the embedded local model), then
    `redline report latest`. Every command has --help.
    """


def main() -> None:
    """Entry point of the ``redline`` console script."""
    cli()


from redline.cli import (  # noqa: E402  (they need the helpers above)
    attacks,
    judges,
    runs,
    scan,
    testserver,
)

cli.add_command(scan.scan)
cli.add_command(runs.runs)
cli.add_command(runs.report)
cli.add_command(runs.diff)
cli.add_command(testserver.testserver)
cli.add_command(judges.judges)
cli.add_command(judges.rejudge)
cli.add_command(attacks.attacks)
