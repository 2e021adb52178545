"""Stopping and holding runs: SIGTERM, run locks, runs left ``running`` by a killed process,
and the limits on what a target can impose (Retry-After, reply size)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import (
    assert_interrupted,
    behaviors_file,
    db_rows,
    is_postgres,
    run_cli,
    small_campaign,
    write_config,
)

from redline.testserver import RunningServer, ServerConfig, running_server

ROOT = Path(__file__).parents[1]


@pytest.fixture
def db(any_db: Path | str) -> Path | str:
    """Every test here on SQLite (file locks) and PostgreSQL (advisory locks, any machine)."""
    return any_db


def many_behaviors(tmp_path: Path, n: int) -> str:
    rows = [{"id": f"h{i}", "behavior": f"Goal number {i}", "category": "c"} for i in range(n)]
    return str(behaviors_file(tmp_path / "behaviors.jsonl", rows))


def start_scan(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "redline", "scan", *args, "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])},
        text=True,
    )


def wait_for_requests(srv: RunningServer, n: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and srv.requests < n:
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.05)
    assert srv.requests >= n


def slow_run(tmp_path: Path, srv: RunningServer, n: int = 400) -> Path:
    config = small_campaign(srv.base_url, many_behaviors(tmp_path, n))
    config["limits"].update(concurrency=4)
    return write_config(tmp_path / "c.yaml", config)


def shown_status(db: Path) -> str:
    (row,) = json.loads(run_cli("runs", "--json", "--db", str(db)).output)
    return row["status"]


def test_sigterm_stops_like_sigint_and_exits_143(tmp_path: Path, db: Path):
    with running_server(ServerConfig(mode="refuse", latency_ms=50)) as srv:
        proc = start_scan(str(slow_run(tmp_path, srv)), "--db", str(db))
        wait_for_requests(srv, 20, proc)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, output
    assert_interrupted(db, output)


def test_a_killed_run_shows_as_interrupted_and_a_second_resume_is_refused(tmp_path: Path, db: Path):
    with running_server(ServerConfig(mode="refuse", latency_ms=50)) as srv:
        first = start_scan(str(slow_run(tmp_path, srv)), "--db", str(db))
        wait_for_requests(srv, 10, first)
        assert shown_status(db) == "running"  # a live process holds it
        first.kill()
        first.wait()
        run_id, status = db_rows(db, "select id, status from runs")[0]
        assert status == "running"  # nobody could record anything else...
        assert shown_status(db) == "interrupted"  # ...but nobody holds it: it is shown so
        report = json.loads(run_cli("report", run_id, "--format", "json", "--db", str(db)).output)
        assert report["status"] == "interrupted"

        resumed = start_scan("--resume", run_id, "--db", str(db))
        sent = srv.requests
        wait_for_requests(srv, sent + 10, resumed)
        assert shown_status(db) == "running"
        second = run_cli("scan", "--resume", run_id, "--db", str(db), "--no-progress")
        assert second.exit_code == 2, second.output
        assert f"run {run_id} is being executed by another process (pid {resumed.pid}" in (
            second.output
        )
        assert "resuming run" not in second.output  # refused before planning anything
        assert "Traceback" not in second.output and "INSERT" not in second.output
        resumed.send_signal(signal.SIGINT)
        output, _ = resumed.communicate(timeout=60)
        assert resumed.returncode == 130, output
        stored = db_rows(db, "select count(*), count(distinct id) from attempts")[0]
        assert stored[0] == stored[1]
    assert shown_status(db) == "interrupted"
    assert db_rows(db, "select status from runs") == [("interrupted",)]
    # and once nobody holds it, it resumes
    with running_server(ServerConfig(mode="refuse")) as srv2:
        config = small_campaign(srv2.base_url, many_behaviors(tmp_path, 400))
        path = write_config(tmp_path / "c2.yaml", config)
        done = run_cli("scan", str(path), "--resume", run_id, "--db", str(db), "--no-progress")
    assert done.exit_code == 0, done.output
    assert db_rows(db, "select count(*), count(distinct id) from attempts") == [(400, 400)]
    assert shown_status(db) == "completed"
    if not is_postgres(db):
        assert not list((db.parent / f"{db.name}.locks").iterdir())  # released locks removed


def test_retry_after_wins_over_backoff_max_and_is_capped(server, tmp_path: Path, db: Path):
    rows = [{"id": "r", "behavior": "goal [[fault:429x1]]", "category": "c"}]
    config = small_campaign(server.base_url, str(behaviors_file(tmp_path / "b.jsonl", rows)))
    config["limits"].update(backoff_initial_s=0.01, backoff_max_s=0.01)
    server.config.retry_after_s = 0.4
    path = write_config(tmp_path / "c.yaml", config)
    result = run_cli("scan", str(path), "--db", str(db), "--no-progress")
    assert result.exit_code == 0, result.output
    (first, latency, _), (second, _, _) = db_rows(
        db, "select started_at, latency_s, status from calls order by seq"
    )
    assert second - (first + latency) >= 0.35  # the server's 0.4 s, not backoff_max_s

    server.config.retry_after_s = 30
    rows = [{"id": "r2", "behavior": "goal two [[fault:429x1]]", "category": "c"}]
    config = small_campaign(server.base_url, str(behaviors_file(tmp_path / "b2.jsonl", rows)))
    config["limits"].update(backoff_initial_s=0.01, backoff_max_s=0.01, retry_after_max_s=0.2)
    path = write_config(tmp_path / "c2.yaml", config)
    started = time.monotonic()
    result = run_cli("scan", str(path), "--db", str(db), "--no-progress")
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 10  # capped by retry_after_max_s, not 30 s


def test_replies_are_cut_at_max_reply_chars_and_the_cut_is_recorded(tmp_path: Path, db: Path):
    long_reply = "Sure. " + "x" * 5000
    with running_server(ServerConfig(mode="script", rules=[("long", long_reply)])) as srv:
        rows = [
            {"id": "long", "behavior": "a long one", "category": "c"},
            {"id": "short", "behavior": "a brief one", "category": "c"},
        ]
        config = small_campaign(srv.base_url, str(behaviors_file(tmp_path / "b.jsonl", rows)))
        config["limits"].update(max_reply_chars=1000)
        path = write_config(tmp_path / "c.yaml", config)
        result = run_cli("scan", str(path), "--db", str(db), "--no-progress")
    assert result.exit_code == 0, result.output
    assert "1 replies were longer than limits.max_reply_chars (1,000 characters)" in " ".join(
        result.output.split()
    )
    transcripts = {
        behavior: json.loads(text)
        for behavior, text in db_rows(db, "select behavior_id, transcript_json from attempts")
    }
    cut = transcripts["long"]
    assert cut["messages"][-1]["content"] == long_reply[:1000]
    assert cut["meta"]["truncated_replies"] == [
        {"call": 0, "role": "target", "chars": len(long_reply), "kept": 1000}
    ]
    assert "meta" not in transcripts["short"]


def test_a_body_too_large_to_read_is_an_error_and_the_run_goes_on(server, tmp_path: Path, db: Path):
    rows = [
        {"id": "flood", "behavior": "goal [[fault:flood]]", "category": "c"},
        {"id": "plain", "behavior": "a plain goal", "category": "c"},
    ]
    config = small_campaign(server.base_url, str(behaviors_file(tmp_path / "b.jsonl", rows)))
    config["limits"].update(timeout_s=30)
    path = write_config(tmp_path / "c.yaml", config)
    run_cli("scan", str(path), "--db", str(db), "--no-progress")  # exit code: error gates
    assert db_rows(db, "select status from runs") == [("completed",)]
    errors = dict(db_rows(db, "select behavior_id, error from attempts"))
    assert errors["plain"] is None
    assert "is larger than 67,108,864 bytes; it was not read" in errors["flood"]
