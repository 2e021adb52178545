from __future__ import annotations

from pathlib import Path

from tests.conftest import config_error, run_cli

from redline.config import load_config

BASE = """\
target:
  type: openai
  base_url: http://127.0.0.1:9/v1
  model: m
"""


def test_a_valid_config_loads_with_defaults(tmp_path: Path):
    path = tmp_path / "campaign.yaml"
    path.write_text(BASE)
    campaign = load_config(path)
    assert campaign.attacks == ["direct"] and campaign.judges == ["harm"]
    assert campaign.limits.concurrency == 16


def test_unknown_key_names_file_key_and_line(tmp_path: Path):
    message = config_error(tmp_path, BASE + "limits:\n  concurency: 4\n")
    assert "campaign.yaml:6" in message and "limits.concurency" in message
    assert "unknown key" in message


def test_unknown_target_key_is_rejected_by_the_target_schema(tmp_path: Path):
    message = config_error(tmp_path, BASE + "  api_key: sk-should-not-be-here\n")
    assert "campaign.yaml:5" in message and "target.api_key: unknown key" in message


def test_wrong_type_names_the_line(tmp_path: Path):
    message = config_error(tmp_path, BASE + "limits:\n  concurrency: lots\n")
    assert "campaign.yaml:6: limits.concurrency" in message and "integer" in message


def test_missing_model_is_reported(tmp_path: Path):
    message = config_error(tmp_path, "target:\n  type: openai\n  base_url: http://x/v1\n")
    assert "target.model: Field required" in message and "campaign.yaml:2" in message


def test_unknown_target_type_and_attack(tmp_path: Path):
    assert "unknown target 'telepathy'" in config_error(tmp_path, "target:\n  type: telepathy\n")
    message = config_error(tmp_path, BASE + "attacks: [direct, sorcery]\n")
    assert "campaign.yaml:5: attacks[1]" in message and "unknown attack 'sorcery'" in message
    message = config_error(tmp_path, BASE + "attacks: [{name: template, style: limerick}]\n")
    assert "attacks[0]" in message and "style" in message


def test_unreadable_behaviour_file(tmp_path: Path):
    message = config_error(tmp_path, BASE + "behaviors: [{file: missing.jsonl}]\n")
    assert "behaviors[0]" in message and "missing.jsonl does not exist" in message
    (tmp_path / "bad.jsonl").write_text('{"behavior": "x"}\n')
    message = config_error(tmp_path, BASE + "behaviors: [{file: bad.jsonl}]\n")
    assert "bad.jsonl:1: missing or empty 'category'" in message


def test_invalid_yaml_names_the_line(tmp_path: Path):
    message = config_error(tmp_path, BASE + "attacks: [direct\nseed: 1\n")
    assert "not valid YAML" in message and "campaign.yaml:" in message


def test_missing_api_key_env_var_is_a_clear_error(tmp_path: Path, monkeypatch, db: Path):
    monkeypatch.delenv("REDLINE_TEST_MISSING_KEY", raising=False)
    path = tmp_path / "campaign.yaml"
    path.write_text(BASE + "  api_key_env: REDLINE_TEST_MISSING_KEY\n")
    result = run_cli("scan", str(path), "--db", str(db), "--no-progress")
    assert result.exit_code == 2
    assert "REDLINE_TEST_MISSING_KEY" in result.output and "Traceback" not in result.output


def test_cli_config_errors_exit_2_without_traceback(tmp_path: Path, db: Path):
    path = tmp_path / "campaign.yaml"
    path.write_text(BASE + "limits:\n  concurency: 4\n")
    result = run_cli("scan", str(path), "--db", str(db))
    assert result.exit_code == 2
    assert "limits.concurency: unknown key" in result.output
    assert "Traceback" not in result.output
    result = run_cli("scan", str(tmp_path / "nope.yaml"), "--db", str(db))
    assert result.exit_code == 2 and "cannot read config file" in result.output


def test_attacker_and_judge_models_can_have_their_own_limits():
    from redline.config import parse_campaign
    from redline.engine.campaign import named_judge
    from redline.engine.judging import judge_models_for

    campaign = parse_campaign(
        {
            "target": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
            "limits": {"concurrency": 32, "requests_per_minute": 600},
            "judge_limits": {"concurrency": 2, "timeout_s": 120, "requests_per_minute": 60},
        }
    )
    assert campaign.limits_for("target").concurrency == 32
    assert campaign.limits_for("attacker").concurrency == 32  # not given: the run's limits
    assert campaign.limits_for("judge").concurrency == 2
    judge = named_judge(
        {"name": "rubric", "model": {"type": "openai", "base_url": "http://127.0.0.1:9/v1",
                                     "model": "j"}}
    )  # fmt: skip
    models = judge_models_for([judge], campaign.limits_for("judge"), rate_limited=True)
    ((gate, _target),) = models.pairs
    assert gate.concurrency.maximum == 2 and gate.limiter is not None
    plain = judge_models_for([judge], campaign.limits_for("target"))
    assert plain.pairs[0][0].limiter is None  # the target's rate limit is not the judges' own
