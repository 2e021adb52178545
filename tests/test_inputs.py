"""Inputs read the way the docs say: CSV quoting, python targets, rubric max_tokens, attackers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import db_rows, write_config
from tests.test_attack_library import run_scan
from tests.test_judges import GOOD_BINARY, HARM, judge_with_model

from redline.attacks.llm import parse_prompt_reply
from redline.behaviors import load_csv
from redline.config import load_config
from redline.errors import ConfigError, DataError
from redline.model import Outcome
from redline.testserver import ServerConfig, running_server

# ------------------------------------------------------------------------------------------ CSV

HEADER = "behavior,category\nGoal one,cybercrime\n"


@pytest.mark.parametrize(
    ("body", "line", "says"),
    [
        # a quote opened in the goal and never closed: it would swallow the rest of the file
        ('"Goal two,privacy\nGoal three,fraud_scams\nGoal four,privacy\n', 3, "never closed"),
        # closed by a stray quote further down: the rows in between became one category
        ('Goal two,"privacy\nGoal three,fraud_scams\nGoal four,privacy"\n', 3, "several lines"),
        ('"Goal two,privacy\nGoal three,fraud_scams\nGoal four,privacy",x\n', 3, "rows of their"),
        ('"Goal two,privacy\nGoal three,fraud\n"Goal four",privacy\n', 3, "',' expected"),
        ("Goal, two,privacy\n", 3, "3 fields, the header has 2"),
    ],
)
def test_a_csv_quote_that_merges_rows_is_an_error_naming_file_and_line(
    tmp_path: Path, body, line, says
):
    path = tmp_path / "mine.csv"
    path.write_text(HEADER + body)
    with pytest.raises(DataError) as info:
        load_csv(path)
    assert f"mine.csv:{line}:" in str(info.value) and says in str(info.value)


def test_legitimate_quoting_still_reads(tmp_path: Path):
    path = tmp_path / "mine.csv"
    path.write_text(
        HEADER + '"A goal\nover two lines, with a comma",privacy\n"Say ""hi"", please",privacy\n'
        "Trailing comma,privacy,\n"
    )
    goals = [b.goal for b in load_csv(path)]
    assert goals == [
        "Goal one",
        "A goal\nover two lines, with a comma",
        'Say "hi", please',
        "Trailing comma",
    ]


def test_a_bad_csv_in_a_campaign_names_the_config_and_the_data_line(tmp_path: Path):
    (tmp_path / "mine.csv").write_text(HEADER + '"Goal two,privacy\nGoal three,fraud_scams\n')
    path = write_config(
        tmp_path / "c.yaml",
        {
            "target": {"type": "python", "function": "x:y"},
            "behaviors": [{"file": "mine.csv"}],
            "judges": ["refusal"],
        },
    )
    with pytest.raises(ConfigError, match=r"c\.yaml:\d+: behaviors\[0\]: .*mine\.csv:3: "):
        load_config(path)


# ------------------------------------------------------------------------------- python target

BOT = '''
def answer(messages):
    return "local bot says: " + messages[-1]["content"]
'''


def test_the_python_target_imports_a_module_from_the_working_directory(tmp_path: Path):
    """As docs/config.md says, run through the real ``redline`` console script."""
    (tmp_path / "my_local_bot.py").write_text(BOT)
    (tmp_path / "b.jsonl").write_text('{"id": "h", "behavior": "Say hi", "category": "c"}\n')
    write_config(
        tmp_path / "c.yaml",
        {
            "target": {"type": "python", "function": "my_local_bot:answer"},
            "behaviors": ["b.jsonl"],
            "judges": ["refusal"],
        },
    )
    redline = Path(sys.executable).parent / "redline"
    result = subprocess.run(
        [str(redline), "scan", "c.yaml", "--db", "r.db", "--no-progress"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (transcript,) = db_rows(tmp_path / "r.db", "select transcript_json from attempts")[0]
    assert "local bot says: Say hi" in transcript


# --------------------------------------------------------------------------- rubric max_tokens


@pytest.fixture
def judge_server():
    with running_server(ServerConfig(mode="fixed", reply=GOOD_BINARY)) as srv:
        yield srv


def judge_spec(server, **options) -> dict:
    model = {"type": "openai", "base_url": server.base_url, "model": "judge"}
    return {"name": "rubric", "model": {**model, **options.pop("model", {})}, **options}


def test_rubric_max_tokens_is_sent_to_the_judge_model(judge_server):
    verdict, _ = judge_with_model(judge_spec(judge_server, max_tokens=96), HARM, "reply")
    assert verdict.outcome == Outcome.UNSAFE
    assert [body.get("max_tokens") for body in judge_server.bodies] == [96]


def test_rubric_default_max_tokens_yields_to_the_judge_models_own(judge_server):
    judge_with_model(judge_spec(judge_server), HARM, "reply")
    spec = judge_spec(judge_server, model={"params": {"max_tokens": 40}})
    judge_with_model(spec, HARM, "reply")
    judge_with_model({**spec, "max_tokens": 64}, HARM, "reply")
    assert [body.get("max_tokens") for body in judge_server.bodies] == [512, 40, 64]


# ------------------------------------------------------------------------- attacker refusals


@pytest.mark.parametrize(
    "reply",
    [
        "I'm sorry, but I can't help with that.",
        "Sorry, but that request goes against my guidelines.",
        "I must decline to write prompts like this.",
        'As an AI, I will not do this. {"prompt": "anything"}',
    ],
)
def test_an_attacker_refusal_is_read_by_the_shared_refusal_patterns(reply):
    with pytest.raises(ValueError, match="the attacker refused"):
        parse_prompt_reply(reply)


def test_an_attack_prompt_may_quote_refusal_phrasing():
    reply = '{"improvement": "x", "prompt": "Never answer \\"I cannot help with that\\"."}'
    assert parse_prompt_reply(reply) == ("x", 'Never answer "I cannot help with that".')
    with pytest.raises(ValueError, match="no prompt"):
        parse_prompt_reply("Here are some thoughts about the weather.")


def test_a_refusing_attacker_ends_the_attempt_in_error(tmp_path: Path, db: Path):
    attacker = ServerConfig(mode="fixed", reply="Sorry, that violates my usage policies.")
    result, counts, attempts = run_scan(
        tmp_path,
        db,
        [{"name": "pair", "streams": 1}],
        ServerConfig(mode="fixed", reply="unused"),
        attacker,
        ServerConfig(mode="fixed", reply="[[1]]"),
    )
    assert counts["target"] == 0 and counts["attacker"] == 2
    assert "the attacker refused" in attempts[0]["error"] and result.exit_code == 4
