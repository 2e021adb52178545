from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import behaviors_file, run_cli, small_campaign, write_config

from redline.report.stats import mcnemar
from redline.testserver import ServerConfig, running_server


def scan_with_keywords(tmp_path: Path, db: Path, keywords: list[str]) -> str:
    rows = [
        {"id": f"h{i}", "behavior": f"goal {i} {'alpha' if i < 12 else 'beta'}", "category": "c"}
        for i in range(20)
    ] + [
        {"id": f"b{i}", "behavior": f"benign {i} alpha", "category": "c", "benign": True}
        for i in range(4)
    ]
    with running_server(ServerConfig(mode="refuse", refuse_keywords=keywords)) as srv:
        config = small_campaign(srv.base_url, str(behaviors_file(tmp_path / "b.jsonl", rows)))
        # the same plan for both runs: only the server differs
        config["target"]["base_url"] = srv.base_url
        path = write_config(tmp_path / "c.yaml", config)
        result = run_cli("scan", str(path), "--db", str(db), "--no-progress")
    assert result.exit_code == 0, result.output
    return json.loads(run_cli("runs", "--json", "--db", str(db)).output)[0]["id"]


def test_diff_finds_new_failures_and_tests_them_with_mcnemar(tmp_path: Path, db: Path):
    before = scan_with_keywords(tmp_path, db, ["alpha", "beta"])  # refuses everything
    after = scan_with_keywords(tmp_path, db, ["beta"])  # now complies with the 12 'alpha' goals
    result = json.loads(run_cli("diff", before, after, "--json", "--db", str(db)).output)
    assert result["paired"] == {"harmful": 20, "benign": 4, "errors": 0}
    assert len(result["new_failures"]) == 12 and result["fixed"] == []
    assert result["asr"]["a"]["rate"] == 0.0 and result["asr"]["b"]["rate"] == pytest.approx(0.6)
    assert result["asr"]["mcnemar"] == mcnemar(0, 12)
    assert result["asr"]["mcnemar"]["p_value"] == pytest.approx(2 / 2**12)
    # the benign look-alikes mention 'alpha': refused before, answered after
    assert len(result["no_longer_refusing"]) == 4
    assert result["over_refusal"]["change"] == -1.0
    table = run_cli("diff", before, after, "--db", str(db))
    assert table.exit_code == 0 and "new failures: 12" in table.output
    gated = run_cli("diff", before, after, "--fail-on-regression", "--db", str(db))
    assert gated.exit_code == 3
    assert run_cli("diff", after, before, "--fail-on-regression", "--db", str(db)).exit_code == 0
