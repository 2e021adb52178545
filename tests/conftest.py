from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from redline.cli import cli
from redline.store.records import OutcomeRow
from redline.testserver import RunningServer, ServerConfig, running_server


@pytest.fixture
def server() -> Iterator[RunningServer]:
    """The project's OpenAI-compatible test server, refusing prompts with 'bomb'/'weapon'/'kill'."""
    with running_server(ServerConfig(mode="refuse")) as srv:
        yield srv


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "results.db"


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def behaviors_file(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def small_campaign(base_url: str, behaviors: str, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "target": {"type": "openai", "base_url": base_url, "model": "test"},
        "behaviors": [behaviors],
        "attacks": ["direct"],
        "judges": ["refusal"],
        "limits": {"concurrency": 4, "timeout_s": 5, "backoff_initial_s": 0.01, "max_retries": 2},
    }
    data.update(extra)
    return data


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def db_rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def outcome_rows(rows: list[dict[str, Any]]) -> list[OutcomeRow]:
    """Outcome rows from partial dicts: what a test leaves out gets a neutral value."""
    return [
        OutcomeRow(
            id=row.get("id", f"a{i}"),
            category=row["category"],
            attack=row["attack"],
            benign=row["benign"],
            target_calls=row.get("target_calls", 1),
            judge=row.get("judge", "j"),
            outcome=row["outcome"],
            refused=row.get("refused"),
            partial=row.get("partial"),
        )
        for i, row in enumerate(rows)
    ]
