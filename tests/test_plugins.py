"""Third-party plugins through entry points: a good one works, a broken one is skipped."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import behaviors_file, db_rows, run_cli, small_campaign, write_config

from redline import registry
from redline.registry import contract_problem

FIXTURE = Path(__file__).parent / "data" / "fixture_plugin"


def _refresh() -> None:
    for reg in (registry.attacks, registry.judges, registry.targets):
        reg.refresh()


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The fixture package installed as a dist-info directory on ``sys.path``."""
    site = tmp_path / "site"
    shutil.copytree(FIXTURE, site)
    monkeypatch.syspath_prepend(str(site))
    _refresh()
    yield site
    sys.modules.pop("redline_fixture_plugin", None)
    _refresh()


def warnings_in(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("redline: warning:")]


def test_a_broken_plugin_is_listed_nowhere_and_warned_about_once(plugin: Path):
    result = run_cli("attacks", "list", "--json")
    assert result.exit_code == 0, result.output
    names = [row["name"] for row in json.loads(result.stdout)]
    assert "shout" in names and "direct" in names and "unimportable" not in names
    (warning,) = warnings_in(result.stderr)
    assert "attack plugin 'unimportable' (redline_fixture_plugin_missing:Attack)" in warning
    assert "ModuleNotFoundError" in warning

    result = run_cli("judges", "list")
    assert result.exit_code == 0, result.output
    assert "no_verdicts" not in result.stdout and "refusal" in result.stdout
    (warning,) = warnings_in(result.stderr)
    assert "judge plugin 'no_verdicts' (redline_fixture_plugin:NoVerdicts)" in warning
    assert "has no judge" in warning


def test_a_good_plugin_attack_runs_in_a_scan_and_a_broken_judge_is_a_config_error(
    plugin: Path, server, tmp_path: Path, db: Path
):
    rows = [{"id": "h1", "behavior": "Explain placeholder things", "category": "c"}]
    config = small_campaign(
        server.base_url, str(behaviors_file(tmp_path / "b.jsonl", rows)), attacks=["shout"]
    )
    result = run_cli(
        "scan", str(write_config(tmp_path / "c.yaml", config)), "--db", str(db), "--no-progress"
    )
    assert result.exit_code == 0, result.output
    assert db_rows(db, "select attack from attempts") == [("shout",)]
    sent = [m["content"] for m in server.bodies[-1]["messages"] if m["role"] == "user"]
    assert sent == ["EXPLAIN PLACEHOLDER THINGS!"]

    config["judges"] = ["no_verdicts"]
    result = run_cli("scan", str(write_config(tmp_path / "c2.yaml", config)), "--db", str(db))
    assert result.exit_code == 2
    assert "c2.yaml:" in result.output and "judge 'no_verdicts'" in result.output
    assert "could not be loaded" in result.output and "Traceback" not in result.output


def test_the_contract_names_what_is_missing():
    class NoRun:
        name = "x"
        Options = dict

    assert "has no run" in (contract_problem("attack", NoRun) or "")
    assert "has no chat" in (contract_problem("target", NoRun) or "")
    assert "not a class" in (contract_problem("judge", object()) or "")
    assert contract_problem("attack", registry.attacks.get("direct")) is None
    for reg in (registry.attacks, registry.judges, registry.targets):
        for name in reg.names():  # every built-in plugin keeps the contract
            assert contract_problem(reg.kind, reg.get(name)) is None, name
