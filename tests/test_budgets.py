"""Budgets in tokens and money: the price table, the caps, stopping, resuming, the summary.

The test server reports usage as words: prompt tokens are the words of the messages sent,
completion tokens those of the reply. In ``refuse`` mode the reply to "Harmful goal number
N" is "Sure, here is a complete answer. Harmful goal number N": 4 + 10 = 14 tokens a call.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import behaviors_file, db_rows, run_cli, small_campaign, write_config

from redline.config import load_config, parse_campaign
from redline.engine.budget import (
    Budget,
    Cap,
    Price,
    Spend,
    campaign_budget,
    role_prices,
    spend_summary,
)
from redline.errors import BudgetExhausted, ConfigError
from redline.model import Usage
from redline.report.summary import run_summary
from redline.store import Store

TOKENS_PER_ATTEMPT = 14


def behaviors(tmp_path: Path, n: int) -> str:
    rows = [
        {"id": f"h{i}", "behavior": f"Harmful goal number {i}", "category": "c"} for i in range(n)
    ]
    return str(behaviors_file(tmp_path / "behaviors.jsonl", rows))


def scan(path: Path, db: Path, *extra: str):
    return run_cli("scan", str(path), "--db", str(db), "--no-progress", "--no-preflight", *extra)


def resume(run_id: str, db: Path, *extra: str):
    return run_cli(
        "scan", "--resume", run_id, "--db", str(db), "--no-progress", "--no-preflight", *extra
    )


def stored_tokens(db: Path) -> int:
    ((tokens,),) = db_rows(db, "select sum(prompt_tokens + completion_tokens) from calls")
    return int(tokens)


def test_a_price_costs_tokens_per_million():
    price = Price(input_per_mtok=0.15, output_per_mtok=0.60)
    assert price.cost(1_000_000, 0) == pytest.approx(0.15)
    assert price.cost(2_000, 1_000) == pytest.approx(0.0009)
    spend = Spend()
    spend.add(Usage(1000, 500), price)
    spend.add(Usage(0, 0), None)  # a call without tokens costs nothing, priced or not
    assert (spend.calls, spend.tokens, spend.cost_usd) == (2, 1500, pytest.approx(0.00045))
    spend.add(Usage(10, 10), None)  # tokens to a model without a price: the cost is unknown
    assert spend.cost_usd is None and spend.tokens == 1520


def test_role_prices_match_the_model_names_and_say_when_one_is_missing():
    config = {
        "target": {"type": "openai", "model": "gpt-4o-mini"},
        "attacker": {"type": "openai", "model": "attacker-m"},
        "judges": ["refusal", {"name": "rubric", "model": {"type": "openai", "model": "judge-m"}}],
        "prices": {
            "gpt-4o-mini": {"input_per_mtok": 0.15, "output_per_mtok": 0.60},
            "judge-m": {"input_per_mtok": 1.0, "output_per_mtok": 2.0},
        },
    }
    prices = role_prices(config)
    assert prices["target"] == Price(0.15, 0.60)
    assert prices["attacker"] is None  # attacker-m has no price
    assert prices["judge"] is None  # the scorer (the attacker's model) is a judge call too
    config["prices"]["attacker-m"] = {"input_per_mtok": 3.0, "output_per_mtok": 1.0}
    # several models in one role: the highest price of each kind, an upper bound
    assert role_prices(config)["judge"] == Price(3.0, 2.0)
    summary = spend_summary(
        {"target": {"calls": 2, "prompt_tokens": 1000, "completion_tokens": 0}}, config
    )
    assert summary["roles"]["target"]["cost_usd"] == pytest.approx(0.00015)
    assert summary["priced"] and summary["unpriced"] == []


def test_caps_refuse_the_next_call_once_reached():
    budget = Budget(
        run_cap=Cap(max_tokens=100),
        role_caps={"judge": Cap(max_cost_usd=0.01)},
        prices={"judge": Price(10_000, 10_000)},  # a cent a token
    )
    budget.take("judge")
    budget.charge("judge", Usage(1, 0))
    with pytest.raises(BudgetExhausted, match=r"the judge's budget of \$0.01 is spent"):
        budget.take("judge")
    budget.take("target")  # the target's calls are not the judge's budget
    budget.charge("target", Usage(60, 38))
    assert not budget.exhausted  # 99 tokens in all
    budget.charge("target", Usage(0, 1))
    assert budget.exhausted and budget.total().tokens == 100
    with pytest.raises(BudgetExhausted, match="the run's budget of 100 tokens is spent"):
        budget.take("attacker")
    assert budget.reason == "the judge's budget of $0.01 is spent ($0.0100 estimated)"


def test_the_config_takes_budgets_per_role_and_a_price_table(tmp_path: Path):
    data = small_campaign(
        "http://127.0.0.1:1/v1",
        "builtin:core",
        prices={"test": {"input_per_mtok": 0.5, "output_per_mtok": 1.5}},
        judge_limits={"max_tokens": 1000},
    )
    data["limits"].update(max_tokens=5000, max_cost_usd=2.5)
    campaign = parse_campaign(data)
    budget = campaign_budget(
        campaign,
        calls_used=3,
        stored={"target": {"calls": 3, "prompt_tokens": 10, "completion_tokens": 20}},
    )
    assert budget.run_cap == Cap(5000, 2.5) and budget.role_caps == {"judge": Cap(1000, None)}
    assert budget.used == 3 and budget.spent["target"].tokens == 30
    assert budget.spent["target"].cost_usd == pytest.approx((10 * 0.5 + 20 * 1.5) / 1e6)

    bad = small_campaign("http://127.0.0.1:1/v1", "builtin:core")
    bad["prices"] = {"test": {"input_per_mtok": -1, "output_per_mtok": 1}}
    path = write_config(tmp_path / "bad.yaml", bad)
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+: prices.test.input_per_mtok"):
        load_config(path)
    bad["prices"] = {"test": {"input": 1, "output_per_mtok": 1}}
    with pytest.raises(ConfigError, match=r"prices.test.input: unknown key"):
        load_config(write_config(path, bad))


def test_a_token_budget_stops_the_run_and_a_resume_counts_what_was_spent(
    server, tmp_path: Path, db: Path
):
    config = small_campaign(server.base_url, behaviors(tmp_path, 10))
    config["limits"].update(max_tokens=40, concurrency=1)
    path = write_config(tmp_path / "c.yaml", config)
    result = scan(path, db)
    assert result.exit_code == 5, result.output
    assert "Stopped at the token budget: the run's budget of 40 tokens is spent" in result.output
    assert "--max-tokens N" in result.output
    ((run_id, status),) = db_rows(db, "select id, status from runs")
    assert status == "budget_exhausted"
    # 2 attempts spend 28 < 40, so a 3rd may start; the 4th may not
    assert db_rows(db, "select count(*) from attempts") == [(3,)]
    assert stored_tokens(db) == 3 * TOKENS_PER_ATTEMPT

    # the 42 tokens spent before count: a budget of 80 allows 3 more attempts, not 6
    result = resume(run_id, db, "--max-tokens", "80")
    assert result.exit_code == 5, result.output
    assert db_rows(db, "select count(*) from attempts") == [(6,)]

    result = resume(run_id, db, "--max-tokens", "10000")
    assert result.exit_code == 0, result.output
    assert db_rows(db, "select status from runs") == [("completed",)]
    assert db_rows(db, "select count(*) from attempts") == [(10,)]
    assert server.requests == 10  # nothing done twice
    assert f"Tokens: target {10 * TOKENS_PER_ATTEMPT}" in result.output


def test_calls_in_flight_when_the_budget_is_reached_finish_and_are_stored(
    server, tmp_path: Path, db: Path
):
    config = small_campaign(server.base_url, behaviors(tmp_path, 10))
    config["limits"].update(max_tokens=20, concurrency=4)
    result = scan(write_config(tmp_path / "c.yaml", config), db)
    assert result.exit_code == 5, result.output
    # the first 4 calls start with nothing spent; each call that started finished and was
    # stored, and none started once 20 tokens were spent
    ((stored,),) = db_rows(db, "select count(*) from attempts")
    assert 4 <= stored < 10 and server.requests == stored
    assert stored_tokens(db) == stored * TOKENS_PER_ATTEMPT
    assert db_rows(db, "select count(*) from verdicts where outcome = 'error'") == [(0,)]


def test_a_money_budget_reads_the_price_table_and_the_summary_shows_the_cost(
    server, tmp_path: Path, db: Path
):
    config = small_campaign(
        server.base_url,
        behaviors(tmp_path, 10),
        prices={"test": {"input_per_mtok": 10_000, "output_per_mtok": 20_000}},
    )
    config["limits"].update(max_cost_usd=0.5, concurrency=1)
    result = scan(write_config(tmp_path / "c.yaml", config), db)
    # an attempt: 4 tokens in at $0.01 and 10 out at $0.02 = $0.24; $0.48 < $0.50 lets a 3rd start
    assert result.exit_code == 5, result.output
    assert "Stopped at the cost budget: the run's budget of $0.5 is spent" in result.output
    assert "--max-cost-usd X" in result.output
    assert "Tokens: target 42 (12 in + 30 out, $0.7200)" in result.output
    ((run_id,),) = db_rows(db, "select id from runs")
    summary = run_summary(Store(db), run_id)
    assert summary["spend"]["total"]["cost_usd"] == pytest.approx(0.72)
    assert summary["spend"]["roles"]["target"]["tokens"] == 42
    html = tmp_path / "report.html"
    report = run_cli("report", run_id, "--db", str(db), "--format", "html", "-o", str(html))
    assert report.exit_code == 0, report.output
    assert "estimated cost $0.7200" in html.read_text()


def test_a_role_budget_stops_the_run_and_says_which_role(server, tmp_path: Path, db: Path):
    config = small_campaign(
        server.base_url,
        behaviors(tmp_path, 5),
        attacker={"type": "openai", "base_url": server.base_url, "model": "atk"},
        attacks=[{"name": "translate"}],
        attacker_limits={"max_tokens": 30, "concurrency": 1},
        prices={"test": {"input_per_mtok": 1, "output_per_mtok": 1}},
    )
    config["limits"].update(concurrency=1)
    result = scan(write_config(tmp_path / "c.yaml", config), db)
    assert result.exit_code == 5, result.output
    assert "Stopped at the attacker's token budget" in result.output
    assert "raise attacker_limits" in result.output
    # one translation (15 words in, 21 out) spends the attacker's 30 tokens; the target's
    # calls are not the attacker's
    assert db_rows(db, "select count(*) from attempts") == [(1,)]
    said = " ".join(result.output.split())
    assert "Tokens: target 48 (21 in + 27 out, $0.000048) · attacker 36" in said
    assert "total 84, cost unknown. No price for atk" in said
    ((config_json,),) = db_rows(db, "select config_json from runs")
    assert json.loads(config_json)["attacker_limits"]["max_tokens"] == 30


def test_a_resume_with_a_role_budget_still_spent_calls_nothing(server, tmp_path: Path, db: Path):
    judge_model = {"type": "openai", "base_url": server.base_url, "model": "judge"}
    config = small_campaign(
        server.base_url,
        behaviors(tmp_path, 5),
        judges=[{"name": "rubric", "model": judge_model}],
        # the rubric judge's two calls of the first attempt (448 and 486 tokens) pass 500:
        # that attempt is stored with its spend, the next one is refused at the judge
        judge_limits={"max_tokens": 500, "concurrency": 1},
    )
    config["limits"].update(concurrency=1)
    assert scan(write_config(tmp_path / "c.yaml", config), db).exit_code == 5
    assert db_rows(db, "select count(*) from attempts") == [(1,)]
    ((run_id,),) = db_rows(db, "select id from runs")
    before = server.requests
    resumed = resume(run_id, db)
    assert resumed.exit_code == 5, resumed.output
    assert "Stopped at the judge's token budget" in resumed.output
    # the judge may not be called: the target is not called only to be refused after
    assert server.requests == before
    assert db_rows(db, "select count(*) from attempts") == [(1,)]


def test_a_money_budget_without_prices_for_its_models_is_refused_at_load_time(tmp_path: Path):
    data = small_campaign("http://127.0.0.1:1/v1", "builtin:core")
    data["limits"]["max_cost_usd"] = 5
    path = write_config(tmp_path / "c.yaml", data)
    with pytest.raises(
        ConfigError, match=r"c.yaml:\d+: limits.max_cost_usd: needs a price .*'test'"
    ):
        load_config(path)
    data["prices"] = {"test": {"input_per_mtok": 1, "output_per_mtok": 2}}
    assert load_config(write_config(path, data)).limits.max_cost_usd == 5
    # the run's budget counts every model; a role's budget needs that role's models only
    del data["limits"]["max_cost_usd"]
    data["judges"] = [
        {
            "name": "rubric",
            "model": {"type": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "judge-m"},
        }
    ]
    data["judge_limits"] = {"max_cost_usd": 1}
    with pytest.raises(ConfigError, match=r"judge_limits.max_cost_usd: needs a price .*'judge-m'"):
        load_config(write_config(path, data))


def test_a_money_budget_given_on_the_command_line_needs_prices_too(
    server, tmp_path: Path, db: Path
):
    config = small_campaign(server.base_url, behaviors(tmp_path, 3))
    result = scan(write_config(tmp_path / "c.yaml", config), db, "--max-cost-usd", "1")
    assert result.exit_code == 2
    assert "--max-cost-usd: needs a price for every model it counts" in result.output
    assert server.requests == 0


def test_an_application_is_priced_at_the_model_it_calls():
    from redline.engine.budget import role_models

    inner = {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "gpt-4o-mini"}
    app = {"target": {"type": "app", "model": inner}}
    assert role_models(app) == {"target": ["gpt-4o-mini"]}
    python_app = {"target": {"type": "python", "function": "m:f", "params": {"model": inner}}}
    assert role_models(python_app) == {"target": ["gpt-4o-mini"]}
    assert role_models({"target": inner}) == {"target": ["gpt-4o-mini"]}
