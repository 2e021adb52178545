"""The store boundary: whatever a target sends is stored, a bad row never loses its batch, a
failed write never leaves a run ``completed``, and configured secrets never reach the store.

Every test that opens a store runs on SQLite and on PostgreSQL (the ``any_db`` fixture)."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import pytest
from tests.conftest import (
    behaviors_file,
    db_rows,
    is_postgres,
    run_cli,
    small_campaign,
    write_config,
)

from redline.store import Store
from redline.testserver import SURROGATE_REPLY


@pytest.fixture
def db(any_db: Path | str) -> Path | str:
    return any_db


def rows(n: int, marker: str = "") -> list[dict]:
    return [
        {"id": f"h{i}", "behavior": f"Goal number {i} {marker}", "category": "c"} for i in range(n)
    ]


def scan(tmp_path: Path, db: Path, config: dict, *extra: str):
    path = write_config(tmp_path / "c.yaml", config)
    return run_cli("scan", str(path), "--db", str(db), "--no-progress", *extra)


# A lone surrogate ------------------------------------------------------------------------------


def test_a_reply_with_a_lone_surrogate_is_stored_intact(server, tmp_path: Path, db: Path):
    plain = rows(3)
    odd = [
        {"id": f"s{i}", "behavior": f"Goal {i} [[fault:surrogate]]", "category": "c"}
        for i in range(3)
    ]
    config = small_campaign(server.base_url, str(behaviors_file(tmp_path / "b.jsonl", plain + odd)))
    result = scan(tmp_path, db, config)
    assert result.exit_code == 0, result.output
    assert db_rows(db, "select status, plan_size from runs") == [("completed", 6)]
    store = Store(db)
    (run_id,) = db_rows(db, "select id from runs")[0]
    stored = {a.behavior_id: a for a in store.iter_attempts(run_id)}
    assert len(stored) == 6
    for i in range(3):
        reply = stored[f"s{i}"].transcript["messages"][-1]
        assert reply == {"role": "assistant", "content": SURROGATE_REPLY}  # kept, not mangled
        assert stored[f"s{i}"].error is None
    assert db_rows(db, "select count(*) from verdicts") == [(6,)]


def test_a_lone_surrogate_in_a_behaviour_file_is_planned_and_stored(
    server, tmp_path: Path, db: Path
):
    path = tmp_path / "b.jsonl"
    path.write_text(
        '{"id": "odd\\ud800", "behavior": "Goal \\udfff number one", "category": "c"}\n'
        '{"id": "plain", "behavior": "Goal number two", "category": "c"}\n'
    )
    result = scan(tmp_path, db, small_campaign(server.base_url, str(path)))
    assert result.exit_code == 0, result.output
    assert db_rows(db, "select status from runs") == [("completed",)]
    assert sorted(r[0] for r in db_rows(db, "select behavior_id from attempts")) == [
        "odd\ufffd",
        "plain",
    ]
    (run_id,) = db_rows(db, "select id from runs")[0]
    goals = sorted(a.transcript["goal"] for a in Store(db).iter_attempts(run_id))
    assert goals == ["Goal number two", "Goal \udfff number one"]  # the goal is kept exactly


def test_a_nul_character_is_stored_on_every_backend(server, tmp_path: Path, db: Path | str):
    path = tmp_path / "b.jsonl"
    path.write_text('{"id": "nul\\u0000id", "behavior": "Goal \\u0000 one", "category": "c"}\n')
    result = scan(tmp_path, db, small_campaign(server.base_url, str(path)))
    assert result.exit_code == 0, result.output
    (run_id,) = db_rows(db, "select id from runs")[0]
    (attempt,) = Store(db).iter_attempts(run_id)
    assert attempt.transcript["goal"] == "Goal \x00 one"  # JSON keeps it exactly
    # a text column: kept where the database can hold it, U+FFFD where not (PostgreSQL)
    assert attempt.behavior_id == ("nul\ufffdid" if is_postgres(db) else "nul\x00id")


def test_the_sanitizer_keeps_text_and_makes_it_storable():
    from redline.store.sanitize import Sanitizer

    clean = Sanitizer()
    assert clean.text(None) is None
    assert clean.text("plain ascii") == "plain ascii"
    assert clean.text("caf\u00e9 \U0001f600") == "caf\u00e9 \U0001f600"
    assert clean.text("bad \ud800 tail \udfff") == "bad \ufffd tail \ufffd"
    document = {"messages": [{"role": "assistant", "content": "x \ud800 y \u00e9"}]}
    encoded = clean.json(document)
    encoded.encode("utf-8")  # storable
    assert json.loads(encoded) == document  # and nothing lost
    assert clean.json({"a": "\u00e9"}) == '{"a": "\u00e9"}'  # no escaping when not needed
    assert clean.text("a\x00b") == "a\x00b"  # SQLite holds NUL characters
    assert Sanitizer(nul_allowed=False).text("a\x00b\ud800") == "a\ufffdb\ufffd"  # PostgreSQL


# Failed writes ---------------------------------------------------------------------------------


def reject_inserts(db: Path | str, condition: str) -> None:
    """A trigger that makes the store refuse some attempt rows (a real failing write)."""
    Store(db).close()
    if is_postgres(db):
        db_rows(
            db,
            "CREATE FUNCTION reject_attempt() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF {condition} THEN RAISE EXCEPTION 'rejected by the test trigger' "
            "USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$",
        )
        db_rows(
            db,
            "CREATE TRIGGER reject_attempts BEFORE INSERT ON attempts "
            "FOR EACH ROW EXECUTE FUNCTION reject_attempt()",
        )
        return
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TRIGGER reject_attempts BEFORE INSERT ON attempts "
            f"WHEN {condition} BEGIN SELECT RAISE(ABORT, 'rejected by the test trigger'); END"
        )


def drop_trigger(db: Path | str) -> None:
    db_rows(db, "DROP TRIGGER reject_attempts" + (" ON attempts" if is_postgres(db) else ""))


def test_a_failed_final_write_marks_the_run_failed_not_completed(server, tmp_path: Path, db: Path):
    reject_inserts(db, "true" if is_postgres(db) else "1")
    config = small_campaign(server.base_url, str(behaviors_file(tmp_path / "b.jsonl", rows(3))))
    result = scan(tmp_path, db, config)
    assert result.exit_code != 0
    assert db_rows(db, "select status from runs") == [("failed",)]
    assert db_rows(db, "select count(*) from attempts") == [(0,)]
    assert (
        "could not be stored" in result.output and "rejected by the test trigger" in result.output
    )
    assert "INSERT" not in result.output and "Goal number" not in result.output  # no SQL dump


def test_one_bad_row_does_not_lose_its_batch(server, tmp_path: Path, db: Path):
    reject_inserts(db, "NEW.behavior_id = 'h2'")
    config = small_campaign(server.base_url, str(behaviors_file(tmp_path / "b.jsonl", rows(8))))
    result = scan(tmp_path, db, config)
    assert result.exit_code == 2, result.output
    ((run_id, status),) = db_rows(db, "select id, status from runs")
    assert status == "failed"
    stored = {r[0] for r in db_rows(db, "select behavior_id from attempts")}
    assert stored == {f"h{i}" for i in range(8)} - {"h2"}
    assert db_rows(db, "select count(*) from verdicts") == [(7,)]
    plan = {p.behavior.id: p.id for p in _plan_of(config)}
    assert plan["h2"] in result.output and "1 attempt" in result.output
    assert f"redline scan --resume {run_id}" in result.output
    # with the store fixed, a resume stores the one that was refused, and nothing twice
    drop_trigger(db)
    again = run_cli("scan", "--resume", run_id, "--db", str(db), "--no-progress")
    assert again.exit_code == 0, again.output
    assert db_rows(db, "select count(*), count(distinct id) from attempts") == [(8, 8)]
    assert db_rows(db, "select status from runs") == [("completed",)]


def _plan_of(config: dict):
    from redline.config import parse_campaign
    from redline.engine.campaign import _plan

    return _plan(parse_campaign(config))[0]


# Secrets ---------------------------------------------------------------------------------------

KEY = "sk-test-KEY-0123456789abcdefXYZ"
TOKEN = "tok-HEADER-9876543210zyxw"
PASSWORD = "pw-in-url-5f3e2d1c"


def everything_stored(db: Path | str) -> str:
    """Every row of every table, as text."""
    if not is_postgres(db):
        with sqlite3.connect(db) as conn:
            return "\n".join(conn.iterdump())
    tables = db_rows(db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return "\n".join(repr(db_rows(db, f"SELECT * FROM {name}")) for (name,) in tables)


def test_secrets_echoed_by_the_target_never_reach_the_store(
    server, tmp_path: Path, db: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("REDLINE_TEST_KEY", KEY)
    monkeypatch.setenv("REDLINE_TEST_TOKEN", TOKEN)
    data = rows(2, "[[fault:echo_headers]]")
    config = small_campaign(server.base_url, str(behaviors_file(tmp_path / "b.jsonl", data)))
    config["target"].update(
        api_key_env="REDLINE_TEST_KEY", headers={"X-Token": "${REDLINE_TEST_TOKEN}"}
    )
    result = scan(tmp_path, db, config)
    assert result.exit_code == 4, result.output  # every attempt failed (401)
    errors = db_rows(db, "select error from calls")
    assert errors and all("<redacted>" in e for (e,) in errors), errors
    assert all("request_headers" in e for (e,) in errors)  # the body is kept, the key is not
    dump = everything_stored(db)
    assert KEY not in dump and TOKEN not in dump
    run_id = db_rows(db, "select id from runs")[0][0]
    for fmt in ("json", "junit"):
        out = run_cli("report", run_id, "--format", fmt, "--db", str(db)).output
        assert KEY not in out and TOKEN not in out
    assert KEY not in result.output and TOKEN not in result.output


def test_credentials_in_the_base_url_never_reach_the_store(server, tmp_path: Path, db: Path):
    url = server.base_url.replace("http://", f"http://alice:{PASSWORD}@")
    data = rows(2, "[[fault:echo_headers]]")
    config = small_campaign(url, str(behaviors_file(tmp_path / "b.jsonl", data)))
    result = scan(tmp_path, db, config)
    assert result.exit_code == 4, result.output
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    (error,) = db_rows(db, "select error from calls limit 1")[0]
    assert "Basic <redacted>" in error, error  # the server saw (and echoed) the credentials
    dump = everything_stored(db)
    assert PASSWORD not in dump and basic not in dump
    target = json.loads(db_rows(db, "select target_json from runs")[0][0])
    assert "<redacted>" in target["base_url"]


def test_literal_credential_headers_are_secrets_and_plain_headers_are_not():
    from redline.engine.redaction import target_secrets

    spec = {
        "type": "http",
        "url": "http://127.0.0.1:9/x",
        "headers": {
            "Authorization": "Bearer sk-literal-123456",
            "X-Api-Key": "literal-key-value",
            "Content-Type": "application/json",
            "X-Short-Token": "abc",
        },
    }
    found = target_secrets(spec)
    assert {"Bearer sk-literal-123456", "sk-literal-123456", "literal-key-value"} <= found
    assert "application/json" not in found and "abc" not in found


# runs.status_detail ---------------------------------------------------------------------------


def test_a_run_stopped_by_its_budget_says_which_until_a_resume_completes_it(
    server, tmp_path: Path, db: Path | str
):
    config = small_campaign(server.base_url, str(behaviors_file(tmp_path / "b.jsonl", rows(6))))
    config["limits"].update(max_target_calls=2, concurrency=1)
    result = scan(tmp_path, db, config, "--no-preflight")
    assert result.exit_code == 5, result.output
    reason = "the budget of 2 target calls is spent"
    assert db_rows(db, "select status, status_detail from runs") == [("budget_exhausted", reason)]
    (listed,) = json.loads(run_cli("runs", "--json", "--db", str(db)).output)
    assert (listed["status"], listed["status_detail"]) == ("budget_exhausted", reason)
    table = run_cli("runs", "--db", str(db)).output  # short, under the status (folded at 80)
    assert "call budget spent" in " ".join(table.split())
    run_id = listed["id"]
    args = ("--db", str(db), "--no-progress", "--no-preflight", "--max-target-calls", "100")
    assert run_cli("scan", "--resume", run_id, *args).exit_code == 0
    assert db_rows(db, "select status, status_detail from runs") == [("completed", None)]
    (listed,) = json.loads(run_cli("runs", "--json", "--db", str(db)).output)
    assert listed["status_detail"] is None


def test_set_status_stores_its_detail_sanitized_and_a_plain_status_clears_it(
    db: Path | str,
):
    store = Store(db)
    store.create_run(
        {
            "id": "r", "name": None, "status": "running", "config_json": "{}",
            "target_json": "{}", "judges_json": "[]", "seed": 0, "plan_size": 0,
            "redline_version": "test",
        }
    )  # fmt: skip
    store.add_secrets(["sk-secret-value"])
    store.set_status("r", "budget_exhausted", "spent \ud800 sk-secret-value")
    detail = store.get_run("r")["status_detail"]
    assert detail.startswith("spent \ufffd") and "sk-secret-value" not in detail
    store.set_status("r", "running")
    assert store.get_run("r")["status_detail"] is None


def test_a_second_copy_of_a_stored_attempt_is_counted_as_a_duplicate_not_stored(
    db: Path | str,
):
    from redline.model import (
        AttemptResult,
        Behavior,
        CallRecord,
        Message,
        Outcome,
        PlannedAttempt,
        Transcript,
        Verdict,
    )

    def result(attempt_id: str, index: int) -> AttemptResult:
        behavior = Behavior(f"b{index}", "a goal", "c")
        transcript = Transcript(
            [Message("user", "a goal"), Message("assistant", "no")],
            calls=[CallRecord("target", 0.0, 0.01, True, status=200)],
        )
        verdict = Verdict("refusal", Outcome("safe"), refused=True, rationale="refused")
        planned = PlannedAttempt(attempt_id, index, behavior, "direct", 0, index)
        return AttemptResult(planned, transcript, [verdict], 0.0, 0.01)

    store = Store(db)
    store.create_run(
        {
            "id": "r", "name": None, "status": "running", "config_json": "{}",
            "target_json": "{}", "judges_json": "[]", "seed": 0, "plan_size": 3,
            "redline_version": "test",
        }
    )  # fmt: skip
    first = store.writer("r", judge_specs={})
    first.put(result("9f00", 0))
    first.close()
    again = store.writer("r", judge_specs={})  # another writer of the same run (a team store)
    for item in (result("9f00", 0), result("0a11", 1)):
        again.put(item)
    again.close()
    assert (again.duplicates, again.refused) == (1, [])
    assert db_rows(db, "select id from attempts order by idx") == [("9f00",), ("0a11",)]
    assert db_rows(db, "select count(*) from verdicts") == [(2,)]
