from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import (
    assert_interrupted,
    behaviors_file,
    db_rows,
    run_cli,
    small_campaign,
    write_config,
)

from redline.config import parse_campaign
from redline.engine.campaign import prepare_run
from redline.store import Store
from redline.testserver import ServerConfig, running_server


def make_behaviors(tmp_path: Path, n: int, prompt_suffix: str = "") -> str:
    rows = [
        {
            "id": f"h{i}",
            "behavior": f"Harmful goal number {i}{prompt_suffix}",
            "category": f"c{i % 3}",
        }
        for i in range(n)
    ]
    return str(behaviors_file(tmp_path / "behaviors.jsonl", rows))


def test_transient_faults_are_retried_until_they_recover(server, tmp_path: Path, db: Path):
    rows = [
        {"id": "r429", "behavior": "goal [[fault:429x2]]", "category": "c"},
        {"id": "r500", "behavior": "goal [[fault:500x1]]", "category": "c"},
    ]
    config = small_campaign(server.base_url, str(behaviors_file(tmp_path / "b.jsonl", rows)))
    server.config.retry_after_s = 0.05
    result = run_cli(
        "scan", str(write_config(tmp_path / "c.yaml", config)), "--db", str(db), "--no-progress"
    )
    assert result.exit_code == 0, result.output
    calls = db_rows(
        db,
        "select a.behavior_id, c.ok, c.status from calls c join attempts a on a.id = c.attempt_id"
        " order by a.behavior_id, c.seq",
    )
    assert calls == [
        ("r429", 0, 429),
        ("r429", 0, 429),
        ("r429", 1, None),
        ("r500", 0, 500),
        ("r500", 1, None),
    ]
    assert db_rows(db, "select outcome from verdicts") == [("unsafe",), ("unsafe",)]


def test_permanent_faults_and_exhausted_retries_are_errors_never_safe(
    server, tmp_path: Path, db: Path
):
    rows = [
        {"id": f"f-{fault}", "behavior": f"goal [[fault:{fault}]]", "category": "c"}
        for fault in ("429", "500", "timeout", "malformed", "empty", "garbage")
    ] + [{"id": "ok", "behavior": "a normal goal", "category": "c"}]
    config = small_campaign(server.base_url, str(behaviors_file(tmp_path / "b.jsonl", rows)))
    config["limits"].update(timeout_s=0.3, max_retries=1)
    server.config.retry_after_s = 0.01
    result = run_cli(
        "scan", str(write_config(tmp_path / "c.yaml", config)), "--db", str(db), "--no-progress"
    )
    assert result.exit_code == 6, result.output  # 6 of 7 in error: above --max-error-rate
    outcomes = dict(
        db_rows(
            db,
            "select a.behavior_id, v.outcome from attempts a"
            " join verdicts v on v.attempt_id = a.id",
        )
    )
    assert outcomes.pop("ok") == "unsafe"
    assert set(outcomes.values()) == {"error"}, outcomes
    calls = dict(db_rows(db, "select behavior_id, target_calls from attempts"))
    # transient faults are retried (1 retry here); permanent ones are not
    assert calls == {
        "f-429": 2,
        "f-500": 2,
        "f-timeout": 2,
        "f-malformed": 1,
        "f-empty": 1,
        "f-garbage": 1,
        "ok": 1,
    }
    errors = dict(db_rows(db, "select behavior_id, error from attempts where error is not null"))
    assert "timed out after 0.3 s" in errors["f-timeout"]
    assert "malformed JSON" in errors["f-malformed"]
    report = json.loads(run_cli("report", "latest", "--format", "json", "--db", str(db)).stdout)
    assert report["totals"] == {
        **report["totals"],
        "attempts": 7,
        "unsafe": 1,
        "safe": 0,
        "error": 6,
    }
    assert report["totals"]["asr"] == 1.0
    assert "6 attempt(s) ended in error" in result.output


def test_every_attempt_failing_exits_4_loudly(tmp_path: Path, db: Path):
    config = small_campaign("http://127.0.0.1:9/v1", make_behaviors(tmp_path, 3))
    config["limits"].update(max_retries=0)
    path = str(write_config(tmp_path / "c.yaml", config))
    # (the preflight call would stop this dead target before the run: see test_preflight.py)
    result = run_cli("scan", path, "--db", str(db), "--no-progress", "--no-preflight")
    assert result.exit_code == 4
    assert "Every attempt ended in error (3 of 3)" in result.output


def test_plans_are_deterministic(server, tmp_path: Path, db: Path):
    data = small_campaign(server.base_url, "builtin:core")
    data["behaviors"] = [{"builtin": "core", "per_category": 10}]
    data["attacks"] = [
        "direct",
        {"name": "base64", "over": {"name": "template", "style": "researcher"}},
    ]
    store = Store(db)
    first = prepare_run(store, parse_campaign(data))
    second = prepare_run(store, parse_campaign(data))
    assert first.run_id != second.run_id
    assert [(p.id, p.seed, p.attack_key) for p in first.plan] == [
        (p.id, p.seed, p.attack_key) for p in second.plan
    ]
    assert len({p.id for p in first.plan}) == len(first.plan) == 120 * 2 + 120
    import random

    probe = first.plan[1]
    prompts = {
        first.attacks[probe.attack_key].prompt(probe.behavior, random.Random(probe.seed))
        for _ in range(2)
    }
    assert len(prompts) == 1
    reseeded = prepare_run(store, parse_campaign({**data, "seed": 1}))
    assert {p.id for p in reseeded.plan}.isdisjoint({p.id for p in first.plan})


def test_budget_stops_cleanly_and_resume_finishes(server, tmp_path: Path, db: Path):
    config = small_campaign(server.base_url, make_behaviors(tmp_path, 10))
    config["limits"].update(max_target_calls=4, concurrency=1)
    path = write_config(tmp_path / "c.yaml", config)
    quiet = ("--db", str(db), "--no-progress", "--no-preflight")  # count the run's calls only
    result = run_cli("scan", str(path), *quiet)
    assert result.exit_code == 5, result.output
    assert "Stopped at the call budget" in result.output
    run_id, status = db_rows(db, "select id, status from runs")[0]
    assert status == "budget_exhausted"
    assert db_rows(db, "select count(*) from attempts") == [(4,)]
    assert server.requests == 4
    # resuming with the same budget does nothing; a larger one finishes the plan
    assert run_cli("scan", "--resume", run_id, *quiet).exit_code == 5
    assert server.requests == 4
    result = run_cli("scan", "--resume", run_id, "--max-target-calls", "100", *quiet)
    assert result.exit_code == 0, result.output
    assert server.requests == 10
    assert db_rows(db, "select count(*), count(distinct id) from attempts") == [(10, 10)]
    assert db_rows(db, "select status from runs") == [("completed",)]


def test_resume_after_kill_9_loses_nothing_and_duplicates_nothing(tmp_path: Path, db: Path):
    plan_size = 300
    with running_server(ServerConfig(mode="refuse", latency_ms=40)) as srv:
        config = small_campaign(srv.base_url, make_behaviors(tmp_path, plan_size))
        config["limits"].update(concurrency=8)
        path = write_config(tmp_path / "c.yaml", config)
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
        proc = subprocess.Popen(
            [sys.executable, "-m", "redline", "scan", str(path), "--db", str(db), "--no-progress"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + 60
        stored = 0
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if db.exists():
                try:
                    stored = db_rows(db, "select count(*) from attempts")[0][0]
                except Exception:
                    continue
                if stored >= 40:
                    break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        before = db_rows(db, "select count(*) from attempts")[0][0]
        assert 40 <= before < plan_size
        run_id, status = db_rows(db, "select id, status from runs")[0]
        assert status == "running"  # killed: nobody could record anything else
        sent_before = srv.requests
        result = run_cli(
            "scan", "--resume", run_id, "--db", str(db), "--no-progress", "--no-preflight"
        )
        assert result.exit_code == 0, result.output
        assert srv.requests - sent_before == plan_size - before  # stored attempts not redone
    assert db_rows(db, "select count(*), count(distinct id) from attempts") == [
        (plan_size, plan_size)
    ]
    assert db_rows(db, "select count(*) from verdicts") == [(plan_size,)]
    assert db_rows(db, "select count(*) from calls") == [(plan_size,)]
    assert db_rows(db, "select status from runs") == [("completed",)]
    report = json.loads(run_cli("report", run_id, "--format", "json", "--db", str(db)).output)
    assert report["totals"]["attempts"] == plan_size and report["stored_attempts"] == plan_size


def test_sigint_stops_gracefully_and_prints_how_to_resume(tmp_path: Path, db: Path):
    with running_server(ServerConfig(mode="refuse", latency_ms=50)) as srv:
        config = small_campaign(srv.base_url, make_behaviors(tmp_path, 400))
        config["limits"].update(concurrency=4)
        path = write_config(tmp_path / "c.yaml", config)
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
        proc = subprocess.Popen(
            [sys.executable, "-m", "redline", "scan", str(path), "--db", str(db), "--no-progress"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and srv.requests < 20:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert_interrupted(db, output)


def test_fail_on_asr_gate_exit_codes(server, tmp_path: Path, db: Path):
    config = small_campaign(server.base_url, make_behaviors(tmp_path, 4))
    path = write_config(tmp_path / "c.yaml", config)
    assert (
        run_cli(
            "scan", str(path), "--db", str(db), "--no-progress", "--fail-on-asr", "0.5"
        ).exit_code
        == 3
    )
    assert (
        run_cli("scan", str(path), "--db", str(db), "--no-progress", "--fail-on-asr", "1").exit_code
        == 0
    )


def test_requests_per_minute_limits_the_call_rate(server, tmp_path: Path, db: Path):
    config = small_campaign(server.base_url, make_behaviors(tmp_path, 11))
    config["limits"].update(requests_per_minute=1200, concurrency=8)  # 20 per second
    path = write_config(tmp_path / "c.yaml", config)
    started = time.monotonic()
    quiet = ("--db", str(db), "--no-progress", "--no-preflight")  # count the run's calls only
    assert run_cli("scan", str(path), *quiet).exit_code == 0
    # 11 calls at 20/s need at least 10 intervals of 50 ms after the first
    assert time.monotonic() - started >= 0.5
    assert server.requests == 11
