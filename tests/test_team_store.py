"""A team's PostgreSQL store: every command on it, scans from several processes (standing in
for several machines) writing at once, resume across them, and no database password shown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import behaviors_file, db_rows, run_cli, small_campaign, write_config
from tests.webapp import live_app

from redline.store import Store, shown_url
from redline.store.urls import database_url
from redline.testserver import RunningServer, ServerConfig, running_server
from redline.web import WebSettings

ROOT = Path(__file__).parents[1]
PASSWORD = "team-db-pw-8d1f0c"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}


def behaviours(tmp_path: Path, name: str, n: int) -> str:
    rows = [{"id": f"{name}{i}", "behavior": f"Goal {name} {i}", "category": "c"} for i in range(n)]
    return str(behaviors_file(tmp_path / f"{name}.jsonl", rows))


def scan_process(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "redline", "scan", *args, "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=ENV,
        text=True,
    )


def wait_for_requests(srv: RunningServer, n: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and srv.requests < n:
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.05)
    assert srv.requests >= n


def test_urls_get_the_psycopg_driver_and_never_show_a_password():
    assert database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    shown = shown_url(f"postgresql://u:{PASSWORD}@h:5432/db")
    assert PASSWORD not in shown and shown == "postgresql://u:***@h:5432/db"


def test_every_command_works_on_a_postgres_store(pg_url: str, tmp_path: Path):
    """scan, runs, report (every format), serve's runs list and explorer, labels, bundles."""
    # the server trusts local connections: the password is sent nowhere, but is in the URL
    url = pg_url.replace("redline@", f"redline:{PASSWORD}@")
    with running_server(ServerConfig(mode="refuse")) as srv:
        config = small_campaign(srv.base_url, behaviours(tmp_path, "h", 6))
        config["judges"] = ["refusal", "refusal_patterns"]
        path = write_config(tmp_path / "c.yaml", config)
        scanned = run_cli("scan", str(path), "--db", url, "--no-progress")
    assert scanned.exit_code == 0, scanned.output
    assert PASSWORD not in scanned.output and "redline:***@" in scanned.output
    runs = json.loads(run_cli("runs", "--json", "--db", url).output)
    assert [(r["status"], r["done"], r["plan_size"]) for r in runs] == [("completed", 6, 6)]
    run_id = runs[0]["id"]
    report = json.loads(run_cli("report", run_id, "--format", "json", "--db", url).output)
    assert report["status"] == "completed" and report["stored_attempts"] == 6
    html = tmp_path / "r.html"
    written = run_cli("report", run_id, "--format", "html", "-o", str(html), "--db", url)
    assert written.exit_code == 0 and run_id in html.read_text()
    for fmt in ("junit", "jsonl"):
        assert run_cli("report", run_id, "--format", fmt, "--db", url).exit_code == 0
    bundle = tmp_path / "run.zip"
    assert run_cli("bundle", "export", run_id, "-o", str(bundle), "--db", url).exit_code == 0
    # the web app reads the same database: runs list, run page, explorer
    with live_app(WebSettings(db=url)) as app:
        client = app.client()
        listing = client.get("/")
        assert listing.status == 200 and run_id in listing.text
        assert client.get(f"/runs/{run_id}").status == 200
        ids = dict(db_rows(pg_url, "SELECT behavior_id, id FROM attempts"))
        explorer = client.get(f"/runs/{run_id}/attempts?q=GOAL%20H%203")  # any case
        assert explorer.status == 200 and ids["h3"] in explorer.text
        assert not any(ids[f"h{i}"] in explorer.text for i in (0, 1, 2, 4, 5))
    # nothing stored anywhere holds the password
    tables = db_rows(pg_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    for (table,) in tables:
        assert PASSWORD not in repr(db_rows(pg_url, f"SELECT * FROM {table}")), table


def test_scans_from_several_processes_write_one_database_at_once(pg_url: str, tmp_path: Path):
    """Three scans, three runs, one database: every attempt stored once, none lost."""
    sizes = {"a": 120, "b": 90, "c": 150}
    with running_server(ServerConfig(mode="refuse", latency_ms=5)) as srv:
        procs = []
        for name, n in sizes.items():
            config = small_campaign(srv.base_url, behaviours(tmp_path, name, n), name=name)
            path = write_config(tmp_path / f"{name}.yaml", config)
            procs.append(scan_process(str(path), "--db", pg_url))
        outputs = [proc.communicate(timeout=240)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], outputs
    stored = db_rows(
        pg_url,
        "SELECT r.name, r.status, count(a.id), count(DISTINCT a.id) FROM runs r "
        "JOIN attempts a ON a.run_id = r.id GROUP BY r.name, r.status ORDER BY r.name",
    )
    assert stored == [(name, "completed", n, n) for name, n in sizes.items()]
    total = sum(sizes.values())
    assert db_rows(pg_url, "SELECT count(*) FROM verdicts") == [(total,)]
    assert db_rows(pg_url, "SELECT count(*) FROM calls WHERE role = 'target'") == [(total,)]


def test_a_killed_run_resumes_on_one_machine_and_a_second_is_refused(pg_url: str, tmp_path: Path):
    # slow enough that the run is still going when both takers have started
    with running_server(ServerConfig(mode="refuse", latency_ms=120)) as srv:
        config = small_campaign(srv.base_url, behaviours(tmp_path, "h", 300))
        path = write_config(tmp_path / "c.yaml", config)
        first = scan_process(str(path), "--db", pg_url)
        wait_for_requests(srv, 20, first)
        first.send_signal(signal.SIGKILL)  # the machine is gone, mid-run
        first.wait()
        ((run_id,),) = db_rows(pg_url, "SELECT id FROM runs")
        left = db_rows(pg_url, "SELECT count(*) FROM attempts")[0][0]
        assert 0 < left < 300
        # two machines try to take it over at the same moment: one does, one is refused
        takers = [scan_process("--resume", run_id, "--db", pg_url) for _ in range(2)]
        outputs = [proc.communicate(timeout=240)[0] for proc in takers]
    codes = sorted(proc.returncode for proc in takers)
    assert codes == [0, 2], outputs
    refused = outputs[[proc.returncode for proc in takers].index(2)]
    assert f"run {run_id} is being executed by another process (pid " in refused, refused
    assert db_rows(pg_url, "SELECT count(*), count(DISTINCT id), min(idx) FROM attempts") == [
        (300, 300, 0)
    ]
    assert db_rows(pg_url, "SELECT status FROM runs") == [("completed",)]


WRITE_SAME = """
import sys
from redline.model import (AttemptResult, Behavior, CallRecord, Message, Outcome,
                           PlannedAttempt, Transcript, Verdict)
from redline.store import Store

url, n = sys.argv[1], int(sys.argv[2])
store = Store(url)
writer = store.writer("shared", flush_every_s=0.005)
for i in range(n):
    behavior = Behavior(f"b{i}", f"goal {i}", "c")
    planned = PlannedAttempt(f"id{i:05d}", i, behavior, "direct", 0, 0)
    transcript = Transcript([Message("user", "p"), Message("assistant", "r")],
                            calls=[CallRecord("target", 0.0, 0.1, True)])
    verdict = Verdict("j", Outcome("safe"), refused=True, rationale="")
    writer.put(AttemptResult(planned, transcript, [verdict], 0.0, 1.0))
writer.close()
print("duplicates", writer.duplicates)
"""


def test_writers_of_the_same_attempts_store_each_attempt_once(pg_url: str):
    """Even with no lock between them (a lock connection lost), a run's attempts are never
    stored twice: the first copy stored is the attempt, the others are counted and skipped."""
    store = Store(pg_url)
    store.create_run(
        {
            "id": "shared", "name": None, "status": "running", "config_json": "{}",
            "target_json": "{}", "judges_json": '["j"]', "seed": 0, "plan_size": 400,
            "redline_version": "test",
        }
    )  # fmt: skip
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITE_SAME, pg_url, "400"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=ENV,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], outputs
    duplicates = [int(out.split("duplicates")[1]) for out in outputs]
    assert sum(duplicates) == 2 * 400, outputs  # each attempt stored by exactly one writer
    for table in ("attempts", "calls", "verdicts"):
        assert db_rows(pg_url, f"SELECT count(*) FROM {table}") == [(400,)], table


def test_a_duplicate_attempt_is_skipped_on_sqlite_too(tmp_path: Path):
    db = tmp_path / "s.db"
    Store(db).create_run(
        {
            "id": "shared", "name": None, "status": "running", "config_json": "{}",
            "target_json": "{}", "judges_json": '["j"]', "seed": 0, "plan_size": 5,
            "redline_version": "test",
        }
    )  # fmt: skip
    for expected in ("duplicates 0", "duplicates 5"):
        out = subprocess.run(
            [sys.executable, "-c", WRITE_SAME, str(db), "5"],
            capture_output=True, text=True, env=ENV, check=True,
        ).stdout  # fmt: skip
        assert expected in out
    assert db_rows(db, "SELECT count(*), count(DISTINCT id) FROM attempts") == [(5, 5)]
