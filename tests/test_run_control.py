"""Stopping and holding runs: SIGTERM, run locks, runs left ``running`` by a killed process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import behaviors_file, db_rows, run_cli, small_campaign, write_config

from redline.testserver import RunningServer, ServerConfig, running_server

ROOT = Path(__file__).parents[1]


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
    run_id = db_rows(db, "select id from runs")[0][0]
    assert "Interrupted." in output and f"redline scan --resume {run_id}" in output
    assert "Traceback" not in output
    assert db_rows(db, "select status from runs") == [("interrupted",)]
    stored = db_rows(db, "select count(*) from attempts")[0][0]
    assert 0 < stored < 400


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
    assert not list((db.parent / f"{db.name}.locks").iterdir())  # released locks are removed
