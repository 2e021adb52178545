"""The distributed run's ledger, and the Ray driver's delivery of results (no Ray needed)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import db_rows, run_cli, small_campaign, write_config

from redline.config import ExecutorConfig, parse_campaign
from redline.engine.campaign import PreparedRun, named_judge
from redline.engine.ledger import Ledger
from redline.engine.ray_executor import RayExecutor, _split
from redline.model import (
    AttemptResult,
    Behavior,
    Message,
    Outcome,
    PlannedAttempt,
    Transcript,
    Verdict,
)
from redline.store import Store


def planned(n: int) -> list[PlannedAttempt]:
    behavior = Behavior("b", "a placeholder goal", "c")
    return [PlannedAttempt(f"a{i}", i, behavior, "direct", 0, i) for i in range(n)]


def test_a_lost_worker_gives_its_attempts_back_and_each_finishes_once():
    ledger = Ledger(planned(4))
    first = [ledger.take("w0"), ledger.take("w0"), ledger.take("w1")]
    assert [p.id for p in first if p] == ["a0", "a1", "a2"]
    assert ledger.in_flight == 3 and ledger.queued == 1
    assert sorted(ledger.lost("w0")) == ["a0", "a1"]
    assert ledger.resent == 2 and ledger.queued == 3 and ledger.on("w0") == []
    taken = [ledger.take("w1") for _ in range(4)]
    assert sorted(p.id for p in taken if p) == ["a0", "a1", "a3"] and taken[-1] is None
    assert all(ledger.finish(f"a{i}") for i in range(4))
    assert ledger.finished and ledger.in_flight == 0


def test_duplicate_and_late_results_are_refused_by_attempt_id():
    ledger = Ledger(planned(2))
    ledger.take("w0")
    ledger.lost("w0")  # a0 queued again...
    assert ledger.finish("a0")  # ...but the lost worker's result arrives after all
    assert ledger.take("w1").id == "a1"  # a0 is not handed out again
    assert ledger.take("w1") is None
    assert not ledger.finish("a0")  # the same result again
    assert not ledger.finish("zz")  # never planned
    assert (ledger.duplicates, ledger.unknown, ledger.done) == (1, 1, 1)


def test_budget_shares_add_up():
    assert _split(None, 3) == [None, None, None]
    assert _split(10, 3) == [4, 3, 3]
    assert _split(1, 2) == [1, 0]


def result(p: PlannedAttempt) -> AttemptResult:
    transcript = Transcript(messages=[Message("user", p.behavior.goal), Message("assistant", "no")])
    verdicts = [Verdict("refusal_patterns", Outcome.SAFE, refused=True)]
    return AttemptResult(p, transcript, verdicts, time.time(), time.time())


def test_the_same_result_delivered_twice_is_stored_once(tmp_path: Path):
    store = Store(str(tmp_path / "r.db"))
    attempts = planned(3)
    campaign = parse_campaign(
        {"target": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}}
    )
    store.create_run(
        {
            "id": "run1",
            "status": "running",
            "config_json": "{}",
            "target_json": "{}",
            "judges_json": '["refusal_patterns"]',
            "seed": 0,
            "plan_size": 3,
            "redline_version": "test",
        }
    )
    judge = named_judge("refusal_patterns")
    prepared = PreparedRun("run1", campaign, attempts, attempts, {}, [judge])
    writer = store.writer("run1", judge_specs={})
    seen: list[str] = []
    executor = RayExecutor(
        prepared, writer, ExecutorConfig(type="ray"), on_result=lambda r: seen.append(r.planned.id)
    )
    executor.ledger = Ledger(attempts)
    for _ in attempts:
        executor.ledger.take("w0")
    stored = [executor.deliver(result(attempts[0])), executor.deliver(result(attempts[0]))]
    stored += [executor.deliver(result(p)) for p in attempts[1:]]
    writer.close()
    assert stored == [True, False, True, True]
    assert seen == ["a0", "a1", "a2"]
    assert executor.stats.finished == 3 and executor.stats.duplicates == 1
    assert executor.stats.outcomes == {"safe": 3}
    assert sorted(store.done_attempt_ids("run1")) == ["a0", "a1", "a2"]


def test_without_ray_the_scan_says_which_extra_to_install_before_creating_a_run(
    tmp_path: Path, server: Any, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    data = small_campaign(server.base_url, "builtin:core")
    config = write_config(tmp_path / "c.yaml", data)
    db = tmp_path / "r.db"
    result = run_cli("scan", str(config), "--db", str(db), "--executor", "ray")
    assert result.exit_code == 2
    assert "pip install 'redline[ray]'" in result.output
    assert not db.exists() or db_rows(db, "select count(*) from runs") == [(0,)]
    assert server.requests == 0
