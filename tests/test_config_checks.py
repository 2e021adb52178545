"""Semantic checks at config time: each names the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import config_error, run_cli

from redline.config import MAX_SEED, load_config, match_judge_label, parse_campaign
from redline.errors import ConfigError


def target(url: str = "http://127.0.0.1:9/v1") -> str:
    return f"target:\n  type: openai\n  base_url: {url}\n  model: m\njudges: [refusal]\n"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("127.0.0.1:8123", "has no scheme: did you mean 'http://127.0.0.1:8123'?"),
        ("'not a url'", "is not an http:// or https:// URL"),
        ("file:///etc/passwd", "only http:// and https:// URLs are supported, not file://"),
        ("http://", "has no host"),
        ("http://host:port/v1", "is not a valid URL"),
    ],
)
def test_a_base_url_that_is_not_an_http_url_is_a_config_error(tmp_path: Path, url, says):
    message = config_error(tmp_path, target(url))
    assert "campaign.yaml:3: target.base_url: " in message and says in message


def test_urls_of_http_targets_attackers_and_judge_models_are_checked(tmp_path: Path):
    message = config_error(
        tmp_path,
        target() + "attacker: {type: openai, base_url: 'localhost:8001/v1', model: a}\n",
    )
    assert "campaign.yaml:6: attacker.base_url" in message and "http://localhost" in message
    judge = "  - name: rubric\n    model: {type: openai, base_url: 'ftp://h/v1', model: j}\n"
    text = target().replace("judges: [refusal]\n", "judges:\n  - refusal\n" + judge)
    message = config_error(tmp_path, text)
    assert "campaign.yaml:8: judges[1].model.base_url" in message and "not ftp://" in message
    message = config_error(tmp_path, "target: {type: http, url: 'app.local/chat'}\n")
    assert "target.url" in message and "has no scheme" in message


def test_credentials_in_a_bad_url_are_not_echoed(tmp_path: Path):
    message = config_error(tmp_path, target("'http://user:s3cret@host:port/v1'"))
    assert "s3cret" not in message and "<credentials>" in message


def test_empty_attacks_is_an_error(tmp_path: Path):
    message = config_error(tmp_path, target() + "attacks: []\n")
    assert "campaign.yaml:6: attacks: is empty" in message


def test_backoff_initial_above_max_is_an_error(tmp_path: Path):
    message = config_error(
        tmp_path, target() + "limits:\n  backoff_initial_s: 40\n  backoff_max_s: 30\n"
    )
    assert "campaign.yaml:7: limits: backoff_initial_s (40) is larger than backoff_max_s (30)" in (
        message
    )


@pytest.mark.parametrize("seed", [2**64, MAX_SEED + 1, -1])
def test_a_seed_out_of_range_is_a_clear_error_not_a_traceback(tmp_path: Path, db: Path, seed):
    path = tmp_path / "campaign.yaml"
    path.write_text(target() + f"seed: {seed}\n")
    result = run_cli("scan", str(path), "--db", str(db), "--no-progress")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "campaign.yaml:6: seed: must be an integer from 0 to 2**63 - 1" in result.output


def test_the_largest_seed_plans(tmp_path: Path):
    campaign = parse_campaign(
        {
            "target": {"type": "python", "function": "tests.sample_app:sync_bot"},
            "judges": ["refusal"],
            "seed": MAX_SEED,
        }
    )
    assert campaign.seed == MAX_SEED


def test_an_unknown_category_in_a_filter_lists_the_known_ones(tmp_path: Path):
    message = config_error(
        tmp_path,
        target()
        + "behaviors:\n  - builtin: core\n    categories:\n      - cybercrime\n      - cybercrme\n",
    )
    assert "campaign.yaml:10: behaviors[0].categories[1]: " in message
    assert "unknown category 'cybercrme'" in message and "cybercrime, defamation" in message
    (tmp_path / "mine.jsonl").write_text('{"behavior": "x", "category": "alpha"}\n')
    message = config_error(
        tmp_path, target() + "behaviors: [{file: mine.jsonl, categories: [beta]}]\n"
    )
    assert "behaviors[0].categories[0]" in message and "(this set has: alpha)" in message


def test_a_plain_judge_name_matches_its_only_label():
    labels = ["refusal", "rubric(max_tokens=96)", "keyword(keywords=['a'])", "custom"]
    assert match_judge_label("rubric", labels) == "rubric(max_tokens=96)"
    assert match_judge_label("rubric(max_tokens=96)", labels) == "rubric(max_tokens=96)"
    assert match_judge_label("custom", labels) == "custom"
    assert match_judge_label("nope", labels) == "nope"  # the caller reports it as unknown
    with pytest.raises(ConfigError, match="ambiguous"):
        match_judge_label("rubric", [*labels, "rubric(mode=graded)"])


DUPLICATES = [
    ("attacks: [direct, direct]\n", 6, "attacks[1]: attack 'direct' is given twice"),
    (  # the default style filled in: both are template(style=fiction)
        "attacks:\n  - direct\n  - template\n  - {name: template, style: fiction}\n",
        9,
        "attacks[2]: attack 'template(style=fiction)' is given twice",
    ),
    (
        "attacks:\n  - {name: generate, shots: 3}\n  - generate\n"
        "attacker: {type: openai, base_url: 'http://127.0.0.1:9/v1', model: a}\n",
        8,
        "attacks[1]: attack 'generate(mode=few_shot,shots=3)' is given twice",
    ),
    ("benign_attacks: [direct, direct]\n", 6, "benign_attacks[1]: attack 'direct' is given"),
]


@pytest.mark.parametrize(("lists", "line", "says"), DUPLICATES)
def test_an_attack_given_twice_is_a_config_error_naming_file_and_line(
    tmp_path: Path, lists, line, says
):
    message = config_error(tmp_path, target() + lists)
    assert f"campaign.yaml:{line}: {says}" in message, message
    assert "also " in message and "campaign.yaml:" in message.split("also ", 1)[1]


def test_a_judge_given_twice_is_a_config_error_naming_file_and_line(tmp_path: Path):
    text = target().replace("judges: [refusal]\n", "judges:\n  - refusal\n  - {name: refusal}\n")
    message = config_error(tmp_path, text)
    assert "campaign.yaml:7: judges[1]: judge 'refusal' is given twice" in message, message
    labelled = text.replace("{name: refusal}", "{name: refusal, label: second}")
    (tmp_path / "campaign.yaml").write_text(labelled)
    assert [str(j) for j in load_config(tmp_path / "campaign.yaml").judges] == [
        "refusal",
        "{'name': 'refusal', 'label': 'second'}",
    ]
