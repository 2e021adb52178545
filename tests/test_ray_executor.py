"""The Ray executor on a local Ray cluster bound to 127.0.0.1, against the real test server.

Skipped when Ray is not installed, except under ``CI=true``, where a missing Ray fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import (
    assert_interrupted,
    behaviors_file,
    db_rows,
    run_cli,
    small_campaign,
    write_config,
)

from redline.config import parse_campaign
from redline.engine.campaign import execute_run, prepare_run
from redline.store import Store
from redline.testserver import RunningServer, ServerConfig, running_server

try:
    import ray
except ImportError:
    if os.environ.get("CI") == "true":
        raise  # CI installs the ray extra: its absence is a failure, not a skip
    pytest.skip("Ray is not installed (pip install 'redline[ray]')", allow_module_level=True)

PLAN = 48


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """A two-CPU Ray cluster on this machine, on the loopback address only."""
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        object_store_memory=80 * 2**20,
        log_to_driver=False,
        configure_logging=False,
    )
    yield
    ray.shutdown()


@pytest.fixture
def slow_server() -> Iterator[RunningServer]:
    with running_server(ServerConfig(mode="refuse", latency_ms=40)) as srv:
        yield srv


def campaign_data(tmp_path: Path, base_url: str, n: int = PLAN, **executor: Any) -> dict[str, Any]:
    """``n`` behaviours, half of them with a word the test server refuses."""
    rows = [
        {"id": f"h{i}", "behavior": f"placeholder goal {i}" + (" bomb" if i % 2 else ""),
         "category": f"c{i % 3}"}
        for i in range(n)
    ]  # fmt: skip
    data = small_campaign(base_url, str(behaviors_file(tmp_path / "b.jsonl", rows)))
    data["limits"]["concurrency"] = 3
    if executor:
        data["executor"] = {"type": "ray", **executor}
    return data


def outcomes(db: Path, run_id: str) -> dict[str, str]:
    rows = db_rows(db, f"select attempt_id, outcome from verdicts where run_id = '{run_id}'")
    return dict(rows)


def run(db: Path, data: dict[str, Any], on_result: Any = None) -> tuple[str, Any]:
    store = Store(str(db))
    prepared = prepare_run(store, parse_campaign(data))
    stats = asyncio.run(execute_run(store, prepared, on_result=on_result, handle_sigint=False))
    return prepared.run_id, stats


def test_killing_an_actor_mid_run_loses_nothing_and_stores_nothing_twice(
    ray_cluster: None, slow_server: RunningServer, tmp_path: Path
):
    db = tmp_path / "r.db"
    local_id, _ = run(db, campaign_data(tmp_path, slow_server.base_url))
    data = campaign_data(tmp_path, slow_server.base_url, actors=2)
    store = Store(str(db))
    prepared = prepare_run(store, parse_campaign(data))
    delivered: list[str] = []
    killed: list[str] = []

    def kill_one(result: Any) -> None:
        delivered.append(result.planned.id)
        if len(delivered) == 10:
            name = f"redline-{prepared.run_id}-0"
            ray.kill(ray.get_actor(name))
            killed.append(name)

    stats = asyncio.run(execute_run(store, prepared, on_result=kill_one, handle_sigint=False))

    assert killed, "the actor was never killed"
    assert stats.stop_reason == "completed"
    assert stats.actors_lost == 1 and stats.actors == 3  # one replaced
    assert stats.resent >= 1  # it had attempts in flight: they were run again elsewhere
    count = f"select count(*), count(distinct id) from attempts where run_id = '{prepared.run_id}'"
    assert db_rows(db, count) == [(PLAN, PLAN)]  # 0 lost, 0 duplicated
    assert len(delivered) == len(set(delivered)) == PLAN
    assert outcomes(db, prepared.run_id) == outcomes(db, local_id)
    assert set(outcomes(db, local_id).values()) == {"safe", "unsafe"}
    status = f"select status from runs where id = '{prepared.run_id}'"
    assert db_rows(db, status) == [("completed",)]


def test_scan_on_ray_from_the_cli_with_a_split_budget_then_resume(
    ray_cluster: None, slow_server: RunningServer, tmp_path: Path
):
    db = tmp_path / "r.db"
    config = write_config(tmp_path / "c.yaml", campaign_data(tmp_path, slow_server.base_url, 12))
    args = ("scan", str(config), "--db", str(db), "--no-progress", "--no-preflight")
    stopped = run_cli(*args, "--executor", "ray", "--actors", "2", "--max-target-calls", "5")
    assert stopped.exit_code == 5, stopped.output  # the budget, split 3 + 2 over the actors
    assert "ray: 2 actors (0 lost)" in stopped.output
    assert slow_server.requests <= 5
    stored = db_rows(db, "select count(*) from attempts")[0][0]
    assert 0 < stored <= 5
    run_id, detail = db_rows(db, "select id, status_detail from runs")[0]
    assert detail == "the budget of 5 target calls is spent"
    assert detail in stopped.output
    done = run_cli("scan", "--resume", run_id, "--db", str(db), "--no-progress", "--actors", "2",
                   "--max-target-calls", "100")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert db_rows(db, "select count(*), count(distinct id) from attempts") == [(12, 12)]
    assert db_rows(db, "select status, status_detail from runs") == [("completed", None)]


def test_every_actor_lost_fails_the_run_and_resume_finishes_it(
    ray_cluster: None, slow_server: RunningServer, tmp_path: Path
):
    db = tmp_path / "r.db"
    data = campaign_data(tmp_path, slow_server.base_url, 24, actors=1, max_actor_restarts=0)
    store = Store(str(db))
    prepared = prepare_run(store, parse_campaign(data))

    killed: list[bool] = []

    def kill(result: Any) -> None:
        if not killed:
            ray.kill(ray.get_actor(f"redline-{prepared.run_id}-0"))
            killed.append(True)

    from redline.errors import ExecutorError

    with pytest.raises(ExecutorError, match=r"every Ray actor was lost.*--resume"):
        asyncio.run(execute_run(store, prepared, on_result=kill, handle_sigint=False))
    assert db_rows(db, "select status from runs") == [("failed",)]
    stored = db_rows(db, "select count(*) from attempts")[0][0]
    assert 0 < stored < 24
    resumed = run_cli("scan", "--resume", prepared.run_id, "--db", str(db), "--no-progress",
                      "--executor", "local")  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    assert db_rows(db, "select count(*), count(distinct id) from attempts") == [(24, 24)]


def test_local_executor_refuses_ray_options(tmp_path: Path, server: RunningServer):
    config = write_config(tmp_path / "c.yaml", campaign_data(tmp_path, server.base_url, 2))
    result = run_cli("scan", str(config), "--executor", "local", "--actors", "2")
    assert result.exit_code == 2 and "--actors are for --executor ray" in result.output


def test_ctrl_c_interrupts_a_ray_scan_and_resume_finishes_it(tmp_path: Path):
    """Ctrl-C in a terminal signals the whole process group: redline and the Ray it started."""
    db = tmp_path / "r.db"
    with running_server(ServerConfig(mode="refuse", latency_ms=50)) as srv:
        data = campaign_data(tmp_path, srv.base_url, 200, actors=2)
        config = write_config(tmp_path / "c.yaml", data)
        args = [str(config), "--db", str(db), "--no-progress", "--no-preflight"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "redline", "scan", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, as a terminal's foreground job
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            with contextlib.suppress(Exception):
                if db_rows(db, "select count(*) from attempts")[0][0] >= 10:
                    break
        os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
        assert proc.returncode == 130, output
        assert_interrupted(db, output)
        run_id = db_rows(db, "select id from runs")[0][0]
        resumed = run_cli("scan", "--resume", run_id, "--db", str(db), "--no-progress")
        assert resumed.exit_code == 0, resumed.output
    assert db_rows(db, "select count(*), count(distinct id) from attempts") == [(200, 200)]


def test_an_actor_without_the_api_key_variable_stops_the_scan_saying_so(
    ray_cluster: None, server: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The key is in the driver's environment but not in the one Ray's nodes were started with."""
    monkeypatch.setenv("REDLINE_RAY_TEST_KEY", "sk-test-only-1234")
    data = campaign_data(tmp_path, server.base_url, 4, actors=1)
    data["target"]["api_key_env"] = "REDLINE_RAY_TEST_KEY"
    config = write_config(tmp_path / "c.yaml", data)
    db = tmp_path / "r.db"
    result = run_cli("scan", str(config), "--db", str(db), "--no-progress", "--no-preflight")
    assert result.exit_code == 2
    assert "could not start" in result.output and "REDLINE_RAY_TEST_KEY" in result.output
    assert "sk-test-only-1234" not in result.output
    assert db_rows(db, "select status from runs") == [("failed",)]
    assert server.requests == 0


def test_more_actors_than_the_cluster_has_cpus_for_is_refused_at_once(
    ray_cluster: None, server: RunningServer, tmp_path: Path
):
    config = write_config(tmp_path / "c.yaml", campaign_data(tmp_path, server.base_url, 2))
    db = tmp_path / "r.db"
    result = run_cli("scan", str(config), "--db", str(db), "--no-preflight", "--actors", "3")
    assert result.exit_code == 2
    assert "3 actors x cpus_per_actor 1 need 3 CPUs, and the Ray cluster has 2" in result.output
    assert server.requests == 0
