from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tests.conftest import run_cli, small_campaign, write_config

from redline.cli import cli


@pytest.mark.parametrize("command", [[], *([name] for name in cli.commands)])
def test_every_command_has_help(command):
    result = run_cli(*command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output


def test_help_does_not_import_heavy_modules():
    code = (
        "import sys; from redline.cli import cli\n"
        "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
        "names = ('sqlalchemy', 'aiohttp', 'llama_cpp', 'pydantic', 'rich')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "HEAVY []" in out


def test_runs_and_report_json(server, tmp_path, db):
    assert "No runs yet" in run_cli("runs", "--db", str(db)).output
    config = small_campaign(server.base_url, "builtin:core")
    config["behaviors"] = [
        {"builtin": "core", "categories": ["cybercrime", "cbrne_weapons"], "per_category": 10}
    ]
    result = run_cli(
        "scan", str(write_config(tmp_path / "c.yaml", config)), "--db", str(db), "--no-progress"
    )
    assert result.exit_code == 0, result.output
    listing = json.loads(run_cli("runs", "--json", "--db", str(db)).output)
    assert len(listing) == 1 and listing[0]["done"] == 40 and listing[0]["status"] == "completed"
    report = json.loads(
        run_cli("report", listing[0]["id"], "--format", "json", "--db", str(db)).output
    )
    assert report["run_id"] == listing[0]["id"] and report["judge"] == "refusal"
    assert set(report["by_category"]) == {"cybercrime", "cbrne_weapons"}
    for figures in [
        report["totals"],
        *report["by_category"].values(),
        *report["by_attack"].values(),
    ]:
        assert {"attempts", "unsafe", "safe", "error", "asr", "ci_low", "ci_high"} <= set(figures)
        assert figures["unsafe"] + figures["safe"] + figures["error"] == figures["attempts"]
    assert {"attempts", "refused", "rate", "ci_low", "ci_high"} <= set(report["over_refusal"])
    assert report["over_refusal"]["attempts"] == 20
    assert report["calls"]["target"]["calls"] == 40
    # the test server refuses prompts with 'kill'; one benign look-alike asks how to kill a process
    assert report["over_refusal"]["refused"] >= 1
    table = run_cli("report", "latest", "--db", str(db)).output
    assert "cybercrime" in table and "ASR" in table


def test_report_of_an_unknown_run_is_a_clear_error(db):
    result = run_cli("report", "nope", "--db", str(db))
    assert result.exit_code == 2 and "no run 'nope'" in result.output
