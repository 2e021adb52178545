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


STORE_WRITERS = frozenset({"scan", "eval"})
"""Commands that may create a new results store (``scan``; ``judges eval --save``). The others
only read one: they never create its folder, and a store whose folder does not exist is an
error."""

DRIVER_PACKAGES = {
    "psycopg": "'psycopg[binary]'",
    "psycopg2": "psycopg2-binary",
    "pg8000": "pg8000",
    "asyncpg": "asyncpg",
    "mysqldb": "mysqlclient",
    "pymysql": "pymysql",
    "mysqlconnector": "mysql-connector-python",
    "oracledb": "oracledb",
    "pyodbc": "pyodbc",
}
"""The package to ``pip install`` for each SQLAlchemy database driver."""


def _check_db(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse a ``--db`` that cannot work before the command opens it.

    A URL needs its database driver installed; a SQLite path read by a command that only reads
    stores needs an existing folder (reading never creates folders).
    """
    from pathlib import Path

    if value is not None and "://" in value:
        problem = store_url_problem(value)
        if problem is not None:
            raise click.BadParameter(problem, ctx, param)
        return value
    if ctx.command.name in STORE_WRITERS:
        return value
    from redline.store import DEFAULT_DB

    path = Path(value) if value is not None else DEFAULT_DB
    if not path.parent.is_dir():
        hint = (
            "nothing was scanned from this folder yet: run `redline scan` first, or give --db"
            if value is None
            else "check the path"
        )
        raise click.BadParameter(
            f"no results store at {path}: the folder {path.parent} does not exist ({hint})",
            ctx,
            param,
        )
    return value


def store_url_problem(url: str) -> str | None:
    """Why the SQLAlchemy URL ``url`` cannot be opened here (no driver, ...); ``None`` if fine.

    The URL's password is never part of the message.
    """
    import re

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from redline.store.urls import normalize_url

    try:
        parsed = make_url(normalize_url(url))
    except ArgumentError:
        shown = re.sub(r"//[^/@\s]*@", "//***@", url)
        return f"{shown!r} is not a database URL (e.g. postgresql://user@host/redline)"
    shown = parsed.render_as_string(hide_password=True)
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        return f"{shown}: unknown kind of database {parsed.drivername!r}"
    try:
        dialect.import_dbapi()
    except ImportError:
        driver = parsed.get_driver_name()
        return (
            f"{shown} needs the {driver!r} database driver, which is not installed: "
            f"pip install {DRIVER_PACKAGES.get(driver, driver)}"
        )
    return None


db_option = click.option(
    "--db",
    metavar="PATH",
    default=None,
    envvar="REDLINE_DB",
    callback=_check_db,
    help=(
        "Results store: a SQLite file or a database URL (postgresql://user@host/db: see "
        "docs/team.md) [default: .redline/redline.db]."
    ),
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
    behaviors,
    bundle,
    export,
    judges,
    labels,
    runs,
    scan,
    serve,
    testserver,
)


def _add_commands() -> None:
    # A function, not module-level statements: in this import cycle mypy can only infer the
    # decorated commands' types once their modules are checked, which it defers to here.
    cli.add_command(scan.scan)
    cli.add_command(runs.runs)
    cli.add_command(runs.report)
    cli.add_command(runs.diff)
    cli.add_command(testserver.testserver)
    cli.add_command(judges.judges)
    cli.add_command(judges.rejudge)
    cli.add_command(attacks.attacks)
    cli.add_command(labels.labels)
    cli.add_command(serve.serve)
    cli.add_command(export.export)
    cli.add_command(bundle.bundle)
    cli.add_command(behaviors.behaviors)


_add_commands()
