"""The store's Alembic migrations: the same schema on SQLite and PostgreSQL, older stores
adopted, every migration reversible, and several processes opening a new database at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from tests.conftest import db_rows, is_postgres
from tests.legacy_store import build_legacy_store

from redline.store import Store, migrations, schema

ROOT = Path(__file__).parents[1]
TABLES = {"runs", "attempts", "calls", "verdicts", "components", "judge_calibrations",
          "human_labels"}  # fmt: skip


def differences(store: Store) -> list:
    """What Alembic finds between the database and ``redline.store.schema`` (none wanted)."""
    with store.engine.connect() as conn:
        found = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    # schema_migrations is only read (older stores), never made
    return [d for d in found if not (d[0] == "add_table" and d[1].name == "schema_migrations")]


def test_the_head_read_from_file_names_is_alembic_s():
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(migrations.alembic_config())
    assert migrations.head() == scripts.get_current_head() == "0007"
    numbers = [s.revision for s in scripts.walk_revisions()][::-1]
    assert numbers == [f"{n:04d}" for n in range(1, len(numbers) + 1)]  # one line, in order


def test_opening_an_up_to_date_store_does_not_import_alembic(tmp_path: Path):
    Store(tmp_path / "s.db").close()
    check = (
        "import sys; from redline.store import Store; Store(sys.argv[1]).close(); "
        "print(any(m == 'alembic' or m.startswith('alembic.') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", check, str(tmp_path / "s.db")],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    assert out.strip() == "False"


def test_a_new_store_has_the_schema_of_the_code(any_db: Path | str):
    store = Store(any_db)
    assert differences(store) == []
    assert set(inspect(store.engine).get_table_names()) >= TABLES
    assert db_rows(any_db, "select version_num from alembic_version") == [(migrations.head(),)]
    Store(any_db)  # a second open changes nothing
    assert db_rows(any_db, "select count(*) from alembic_version") == [(1,)]


def test_sqlite_tables_with_composite_keys_stay_without_rowid_but_attempts(tmp_path: Path):
    Store(tmp_path / "s.db")
    created = dict(db_rows(tmp_path / "s.db", "select name, sql from sqlite_master"))
    for table in ("calls", "verdicts", "components"):
        assert created[table].rstrip().endswith("WITHOUT ROWID"), created[table]
    for table in ("runs", "attempts"):  # attempts appended in insertion order (migration 7)
        assert "WITHOUT ROWID" not in created[table]
    assert "PRIMARY KEY (run_id, id)" in created["attempts"]


ATTEMPT = (
    "insert into attempts values ('r1', '{id}', {idx}, 'b', 'c', 0, 'direct', 0, 7, '[]', null, "
    "1, 1.0, 2.0)"
)


def test_migration_7_rebuilds_attempts_as_a_rowid_table_with_its_rows_and_indexes(
    tmp_path: Path,
):
    path = tmp_path / "s.db"
    Store(path).engine.dispose()
    with Store(path).engine.begin() as conn:  # back to 0006: attempts WITHOUT ROWID
        command.downgrade(migrations.alembic_config(conn), "0006")
    created = dict(db_rows(path, "select name, sql from sqlite_master where type = 'table'"))
    assert created["attempts"].rstrip().endswith("WITHOUT ROWID")
    assert "status_detail" not in created["runs"]
    db_rows(
        path,
        "insert into runs values ('r1', 'old', 1.0, 2.0, 'completed', '{}', '{}', '[]', 7, 3, "
        "'0.0.1')",
    )
    for idx, attempt_id in enumerate(["f00d", "0bad", "beef"]):
        db_rows(path, ATTEMPT.format(id=attempt_id, idx=idx))
    store = Store(path)
    assert differences(store) == []
    created = dict(db_rows(path, "select name, sql from sqlite_master where type = 'table'"))
    assert "WITHOUT ROWID" not in created["attempts"]
    assert "attempts_new" not in created
    listed = "select name from sqlite_master where type = 'index' and tbl_name = 'attempts'"
    indexes = {name for (name,) in db_rows(path, listed)}
    assert {"ix_attempts_plan", "ix_attempts_facets"} <= indexes
    assert store.done_attempt_ids("r1") == {"f00d", "0bad", "beef"}
    in_rowid_order = db_rows(path, "select id from attempts order by rowid")
    assert in_rowid_order == [("f00d",), ("0bad",), ("beef",)]  # copied in plan order
    assert store.get_run("r1")["status_detail"] is None
    with pytest.raises(Exception, match="UNIQUE"):  # the key still refuses a second copy
        db_rows(path, ATTEMPT.format(id="beef", idx=9))
    db_rows(path, ATTEMPT.format(id="beef", idx=9) + " on conflict (run_id, id) do nothing")
    assert db_rows(path, "select count(*) from attempts") == [(3,)]


def test_seeds_hold_64_bit_integers(any_db: Path | str):
    store = Store(any_db)
    store.create_run(
        {
            "id": "r", "name": None, "status": "running", "config_json": "{}",
            "target_json": "{}", "judges_json": "[]", "seed": 2**63 - 1, "plan_size": 0,
            "redline_version": "test",
        }
    )  # fmt: skip
    assert db_rows(any_db, "select seed from runs") == [(2**63 - 1,)]


@pytest.mark.parametrize("version", [1, 3, 5, 6])
def test_a_store_made_before_alembic_is_adopted(tmp_path: Path, version: int):
    path = tmp_path / "old.db"
    build_legacy_store(path, upto=version)
    db_rows(
        path,
        "insert into runs values ('r1', 'old', 1.0, 2.0, 'completed', '{}', '{}', '[]', 7, "
        "1, '0.0.1')",
    )
    store = Store(path)
    assert db_rows(path, "select version_num from alembic_version") == [(migrations.head(),)]
    assert differences(store) == []
    assert store.get_run("r1")["name"] == "old"  # the rows it held are still there
    # its record of the older migrations is left as it was
    assert db_rows(path, "select max(version) from schema_migrations") == [(version,)]
    created = dict(db_rows(path, "select name, sql from sqlite_master where type = 'table'"))
    assert "WITHOUT ROWID" not in created["attempts"]  # rebuilt by migration 7
    assert created["components"].rstrip().endswith("WITHOUT ROWID")


def test_every_migration_goes_down_and_up_again(any_db: Path | str):
    store = Store(any_db)
    with store.engine.begin() as conn:
        command.downgrade(migrations.alembic_config(conn), "base")
    left = set(inspect(store.engine).get_table_names()) - {"alembic_version"}
    assert left == set()
    store.engine.dispose()
    again = Store(any_db)
    assert differences(again) == []


OPEN = """
import sys
from redline.store import Store
Store(sys.argv[1]).close()
"""


def test_processes_opening_a_new_postgres_database_at_once_all_succeed(pg_url: str):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN, pg_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )
        for _ in range(4)
    ]
    outputs = [(proc.wait(timeout=120), proc.communicate()[0]) for proc in procs]
    assert all(code == 0 for code, _ in outputs), outputs
    assert is_postgres(pg_url)
    assert db_rows(pg_url, "select version_num from alembic_version") == [(migrations.head(),)]
    assert differences(Store(pg_url)) == []


def test_without_postgres_the_tests_skip_but_under_ci_they_fail(tmp_path: Path):
    """CI can never pass with the PostgreSQL store untested."""
    import os

    test = "tests/test_migrations.py::test_a_new_store_has_the_schema_of_the_code"
    env = {**os.environ, "REDLINE_TEST_PG_BIN": str(tmp_path / "no-postgres-here")}
    env.pop("CI", None)
    runs = {}
    for ci in ("", "true"):
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", test],
            capture_output=True, text=True, cwd=ROOT, env={**env, "CI": ci}, timeout=300,
        )  # fmt: skip
        runs[ci] = result
    local, ci = runs[""], runs["true"]
    assert local.returncode == 0, local.stdout
    assert "1 passed, 1 skipped" in local.stdout and "PostgreSQL is not installed" in local.stdout
    assert ci.returncode == 1, ci.stdout
    assert "1 passed, 1 error" in ci.stdout and "must run, not skip" in ci.stdout
