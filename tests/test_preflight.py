"""Fail fast: one test call to each network model before a run, against the real test server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from tests.conftest import behaviors_file, db_rows, run_cli, small_campaign, write_config

from redline.config import parse_campaign
from redline.engine.campaign import prepare_run
from redline.engine.preflight import PreflightError, models_to_check, preflight
from redline.store import Store
from redline.testserver import ServerConfig, running_server

ROWS = [{"id": f"h{i}", "behavior": f"Harmful goal {i}", "category": "c"} for i in range(20)]


def campaign_file(tmp_path: Path, base_url: str, **extra) -> str:
    config = small_campaign(base_url, str(behaviors_file(tmp_path / "b.jsonl", ROWS)), **extra)
    return str(write_config(tmp_path / "c.yaml", config))


def scan(path: str, db: Path, *flags: str):
    started = time.monotonic()
    result = run_cli("scan", path, "--db", str(db), "--no-progress", *flags)
    return result, time.monotonic() - started


def test_a_dead_target_stops_the_scan_in_seconds_with_exit_2(tmp_path: Path, db: Path):
    result, elapsed = scan(campaign_file(tmp_path, "http://127.0.0.1:9/v1"), db)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "the target (openai, http://127.0.0.1:9/v1, test) did not answer" in result.output
    assert "is the server running" in result.output and "--no-preflight" in result.output
    assert elapsed < 10
    assert db_rows(db, "select count(*) from runs") == [(0,)]  # nothing was started


def test_an_unknown_model_is_a_404_and_names_the_model(tmp_path: Path, db: Path):
    with running_server(ServerConfig(mode="echo", models=["served-model"])) as srv:
        result, _ = scan(campaign_file(tmp_path, srv.base_url), db)
        assert srv.requests == 1  # one test call, then nothing
    assert result.exit_code == 2
    assert "HTTP 404" in result.output and "'test'" in result.output
    assert "ends in /v1" in result.output


def test_a_wrong_path_is_a_404(server, tmp_path: Path, db: Path):
    result, _ = scan(campaign_file(tmp_path, server.url + "/v2"), db)
    assert result.exit_code == 2 and "HTTP 404" in result.output and server.requests == 0


def test_a_refused_key_is_a_401_and_the_key_is_never_printed(
    tmp_path: Path, db: Path, monkeypatch
):
    monkeypatch.setenv("REDLINE_PREFLIGHT_KEY", "sk-wrong-key-123")
    with running_server(ServerConfig(mode="echo", api_key="sk-right")) as srv:
        config = small_campaign(srv.base_url, str(behaviors_file(tmp_path / "b.jsonl", ROWS)))
        config["target"]["api_key_env"] = "REDLINE_PREFLIGHT_KEY"
        result, _ = scan(str(write_config(tmp_path / "c.yaml", config)), db)
    assert result.exit_code == 2 and "HTTP 401" in result.output
    assert "target.api_key_env" in result.output and "sk-wrong-key-123" not in result.output


def test_a_live_target_gets_one_extra_call_and_the_run_goes_on(server, tmp_path: Path, db):
    result, _ = scan(campaign_file(tmp_path, server.base_url), db)
    assert result.exit_code == 0, result.output
    assert server.requests == len(ROWS) + 1
    assert db_rows(db, "select count(*) from calls") == [(len(ROWS),)]  # preflight not stored


def test_no_preflight_skips_the_call(tmp_path: Path, db: Path):
    with running_server(ServerConfig(mode="echo", models=["served-model"])) as srv:
        result, _ = scan(campaign_file(tmp_path, srv.base_url), db, "--no-preflight")
        assert srv.requests == len(ROWS)  # every attempt tried (and failed): no preflight
    assert result.exit_code == 4


def test_a_rate_limited_target_passes_the_preflight(server, tmp_path: Path, db: Path):
    server.config.fault_rates = {"429": 1.0}
    models = models_to_check({"type": "openai", "base_url": server.base_url, "model": "m"})
    preflight(models, timeout_s=5)  # up, only busy: the run's own retries handle it
    assert server.requests == 1


def test_transient_failures_are_tried_again_then_reported(server):
    server.config.fault_rates = {"500": 1.0}
    models = models_to_check({"type": "openai", "base_url": server.base_url, "model": "m"})
    with pytest.raises(PreflightError, match="HTTP 500"):
        preflight(models, timeout_s=5)
    assert server.requests == 3


def test_attacker_and_judge_models_are_checked_too(server, tmp_path: Path, db: Path):
    dead = {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "judge"}
    path = campaign_file(
        tmp_path,
        server.base_url,
        judges=["refusal", {"name": "rubric", "model": dead}],
        attacker={"type": "openai", "base_url": server.base_url, "model": "attacker"},
    )
    result, _ = scan(path, db)
    assert result.exit_code == 2
    assert "the judge model (openai, http://127.0.0.1:9/v1, judge)" in result.output
    assert "judges[].model" in result.output and "the target" not in result.output
    assert server.requests == 2  # the target and the attacker (also the scorer) answered


def test_in_process_targets_get_no_preflight():
    assert models_to_check({"type": "local"}) == []
    assert models_to_check({"type": "python", "function": "tests.sample_app:sync_bot"}) == []
    same = {"type": "openai", "base_url": "http://x/v1", "model": "m"}
    assert [m.role for m in models_to_check(same, attacker=same, judge_models=[same])] == [
        "target"
    ]


def test_prepare_run_checks_from_inside_a_running_loop_and_stores_nothing(db: Path):
    campaign = parse_campaign(
        {
            "target": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
            "behaviors": [{"builtin": "core", "per_category": 1}],
            "judges": ["refusal"],
        }
    )
    store = Store(db)

    async def inside_a_loop():
        prepare_run(store, campaign, preflight=True)

    with pytest.raises(PreflightError, match="did not answer"):
        asyncio.run(inside_a_loop())
    assert store.list_runs() == []
    prepare_run(store, campaign)  # the Python API checks only when asked
    assert len(store.list_runs()) == 1
