from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import settings
from tests.pgserver import PostgresServer, binaries

from redline.cli import cli
from redline.store.records import OutcomeRow
from redline.store.urls import database_url, is_url
from redline.testserver import RunningServer, ServerConfig, running_server

# Property tests assert behaviour, not timings: on a loaded 2-core machine a fast example can
# take longer than Hypothesis's default 200 ms deadline, which is no failure of the code.
settings.register_profile("redline", deadline=None)
settings.load_profile("redline")

PG_MISSING = (
    "PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin or on PATH; "
    "Debian: apt-get install postgresql), so the store tests ran on SQLite only"
)


@pytest.fixture
def server() -> Iterator[RunningServer]:
    """The project's OpenAI-compatible test server, refusing prompts with 'bomb'/'weapon'/'kill'."""
    with running_server(ServerConfig(mode="refuse")) as srv:
        yield srv


@pytest.fixture
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """The results store of a test: a SQLite file.

    ``REDLINE_TEST_BACKEND=postgresql`` makes it a PostgreSQL database instead, for a run of the
    whole suite against that backend (tests that read the file with ``sqlite3`` then fail for
    that reason alone). The store tests run on both backends always (``any_db``).
    """
    if os.environ.get("REDLINE_TEST_BACKEND") == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return tmp_path / "results.db"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for the session (tests/pgserver.py).

    Without PostgreSQL the tests that need it skip, saying why; under ``CI=true`` they fail
    instead, so that CI never passes with the PostgreSQL store untested.
    """
    bin_dir = binaries()
    if bin_dir is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{PG_MISSING}; CI=true: the PostgreSQL store tests must run, not skip")
        pytest.skip(PG_MISSING)
    server = PostgresServer(bin_dir)
    try:
        server.start()
    except RuntimeError as exc:
        server.stop()
        pytest.fail(f"could not start a PostgreSQL server for the tests: {exc}")
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database (dropped after the test)."""
    url = postgres.new_database()
    yield url
    postgres.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """A results store on each backend: a SQLite file path, then a PostgreSQL URL."""
    if request.param == "sqlite":
        return tmp_path / "results.db"
    return str(request.getfixturevalue("pg_url"))


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def behaviors_file(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def small_campaign(base_url: str, behaviors: str, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "target": {"type": "openai", "base_url": base_url, "model": "test"},
        "behaviors": [behaviors],
        "attacks": ["direct"],
        "judges": ["refusal"],
        "limits": {"concurrency": 4, "timeout_s": 5, "backoff_initial_s": 0.01, "max_retries": 2},
    }
    data.update(extra)
    return data


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def db_rows(db: Path | str, sql: str) -> list[tuple]:
    """The rows of ``sql`` (plain SQL, run by the driver) on a SQLite file or a database URL."""
    if not is_url(db):
        with sqlite3.connect(db) as conn:
            return conn.execute(sql).fetchall()
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(database_url(db), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            result = conn.exec_driver_sql(sql)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def db_dicts(db: Path | str, sql: str) -> list[dict[str, Any]]:
    """The rows of ``sql`` as dicts (column name: value), on either backend."""
    if not is_url(db):
        with sqlite3.connect(db) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute(sql)]
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(database_url(db), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [dict(row._mapping) for row in conn.exec_driver_sql(sql)]
    finally:
        engine.dispose()


def is_postgres(db: Path | str) -> bool:
    """Whether ``db`` (a store fixture's value) is a PostgreSQL URL."""
    return is_url(db) and str(db).startswith("postgres")


def outcome_rows(rows: list[dict[str, Any]]) -> list[OutcomeRow]:
    """Outcome rows from partial dicts: what a test leaves out gets a neutral value."""
    return [
        OutcomeRow(
            id=row.get("id", f"a{i}"),
            category=row["category"],
            attack=row["attack"],
            benign=row["benign"],
            target_calls=row.get("target_calls", 1),
            judge=row.get("judge", "j"),
            outcome=row["outcome"],
            refused=row.get("refused"),
            partial=row.get("partial"),
        )
        for i, row in enumerate(rows)
    ]


def config_error(tmp_path: Path, text: str) -> str:
    """The ConfigError message that loading ``text`` as a campaign file raises."""
    from redline.config import load_config
    from redline.errors import ConfigError

    path = tmp_path / "campaign.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def assert_interrupted(db: Path, output: str) -> None:
    """A scan stopped by a signal: flushed, marked interrupted, resume hint, no traceback."""
    run_id = db_rows(db, "select id from runs")[0][0]
    assert "Interrupted." in output and f"redline scan --resume {run_id}" in output
    assert "Traceback" not in output
    assert db_rows(db, "select status from runs") == [("interrupted",)]
    stored = db_rows(db, "select count(*) from attempts")[0][0]
    assert 0 < stored < 400


def judge_with_models(spec: Any, behavior: Any, transcript: Any, limits: Any = None) -> Any:
    """Judge ``transcript`` as the engine does: judge models from the run context, gated."""
    import asyncio

    from redline.config import Limits
    from redline.engine.campaign import named_judge
    from redline.engine.judging import judge_models_for
    from redline.engine.runner import judge_transcript
    from redline.targets._http import close_shared_session

    async def go() -> Any:
        named = named_judge(spec)
        models = judge_models_for([named], limits or Limits())
        try:
            with models.active():
                (verdict,) = await judge_transcript([named], behavior, transcript)
        finally:
            await models.aclose()
            await close_shared_session()
        return verdict

    return asyncio.run(go())

