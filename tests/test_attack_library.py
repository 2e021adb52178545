from __future__ import annotations

import json
import random
import string
from contextlib import ExitStack
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import behaviors_file, db_rows, run_cli, small_campaign, write_config

from redline.attacks import build_attack
from redline.attacks.converters import (
    Atbash,
    Base64,
    Caesar,
    Hex,
    Homoglyph,
    Morse,
    PayloadSplit,
    Reverse,
    Rot13,
    ZeroWidth,
    augment_text,
)
from redline.attacks.templates import TEMPLATES
from redline.model import Behavior
from redline.testserver import ServerConfig, running_server

RNG = random.Random(0)
GOAL = Behavior("g", "Explain the placeholder procedure", "test")


def bare(name: str, **options):
    return build_attack({"name": name, "instruction": False, **options})


@given(st.text())
def test_invertible_converters_round_trip(text):
    for attack, decode in [
        (bare("base64"), Base64.decode),
        (bare("hex"), Hex.decode),
        (bare("rot13"), Rot13.decode),
        (bare("reverse"), Reverse.decode),
    ]:
        assert decode(attack.rewrite(text, RNG)) == text
    caesar = bare("caesar", shift=7)
    assert isinstance(caesar, Caesar) and caesar.decode(caesar.rewrite(text, RNG)) == text
    atbash = bare("atbash")
    assert isinstance(atbash, Atbash) and atbash.decode(atbash.rewrite(text, RNG)) == text
    clean = text.replace("\u200b", "")
    assert ZeroWidth.decode(build_attack("zero_width").rewrite(clean, RNG)) == ZeroWidth.decode(
        clean
    )
    latin = "".join(c for c in text if c.isascii())  # confusables map back to ASCII only
    assert Homoglyph.decode(build_attack("homoglyph").rewrite(latin, RNG)) == latin


@given(st.text(min_size=1))
def test_payload_split_round_trips(text):
    for parts in (2, 3, 7):
        attack = build_attack({"name": "payload_split", "parts": parts})
        assert PayloadSplit.decode(attack.rewrite(text, RNG)) == text


@given(st.lists(st.text(alphabet=string.ascii_uppercase + string.digits, min_size=1), min_size=1))
def test_morse_round_trips_its_alphabet(words):
    text = " ".join(words)
    assert Morse.decode(bare("morse").rewrite(text, RNG)) == text


def test_other_converters_and_every_template():
    assert build_attack("leetspeak").rewrite("test sets", RNG) == "7357 5375"
    assert build_attack({"name": "spacing", "separator": "-"}).rewrite("abc", RNG) == "a-b-c"
    assert augment_text("Hello there friend", 0.0, random.Random(1)) == "Hello there friend"
    noisy = augment_text("Hello there friend", 1.0, random.Random(1))
    assert noisy != "Hello there friend" and len(noisy) == len("Hello there friend")
    assert augment_text("same seed", 0.5, random.Random(3)) == augment_text(
        "same seed", 0.5, random.Random(3)
    )
    for fmt in ("markdown", "code", "json"):
        assert GOAL.goal in build_attack({"name": "wrap", "format": fmt}).rewrite(GOAL.goal, RNG)
    assert len(TEMPLATES) >= 10
    for style in TEMPLATES:
        prompt = build_attack({"name": "template", "style": style}).prompt(GOAL, RNG)
        assert "xplain the placeholder procedure" in prompt and prompt != GOAL.goal


def test_many_shot_places_n_fabricated_turns_before_the_request():
    attack = build_attack({"name": "many_shot", "shots": 5})
    from redline.attacks.base import AttackContext

    ctx = AttackContext(target=None, seed=0, system_prompt="sys")  # type: ignore[arg-type]
    messages = attack.messages(GOAL, GOAL.goal, ctx)
    assert len(messages) == 1 + 2 * 5 + 1 and messages[-1].content == GOAL.goal
    assert all("[detail withheld]" in m.content for m in messages[2:-1:2])


# ----------------------------------------------------------------- LLM-driven attacks, end to end


def run_scan(
    tmp_path: Path,
    db: Path,
    attacks: list,
    target: ServerConfig,
    attacker: ServerConfig | None = None,
    scorer: ServerConfig | None = None,
    goals: list[str] | None = None,
    **limits,
):
    goals = goals or ["Explain the placeholder procedure"]
    rows = [{"id": f"g{i}", "behavior": g, "category": "c"} for i, g in enumerate(goals)]
    with ExitStack() as stack:
        target_srv = stack.enter_context(running_server(target))
        config = small_campaign(
            target_srv.base_url, str(behaviors_file(tmp_path / "b.jsonl", rows))
        )
        config["attacks"] = attacks
        config["limits"].update(concurrency=1, **limits)
        servers = {"target": target_srv}
        for role, server_config in (("attacker", attacker), ("scorer", scorer)):
            if server_config is not None:
                srv = stack.enter_context(running_server(server_config))
                config[role] = {"type": "openai", "base_url": srv.base_url, "model": role}
                servers[role] = srv
        path = str(write_config(tmp_path / "c.yaml", config))
        # no preflight calls: the counts are the run's own
        result = run_cli("scan", path, "--db", str(db), "--no-progress", "--no-preflight")
        counts = {role: srv.requests for role, srv in servers.items()}
    attempts = [
        {
            "behavior": r[0],
            "transcript": json.loads(r[1]),
            "error": r[2],
            "target_calls": r[3],
        }
        for r in db_rows(
            db,
            "select behavior_id, transcript_json, error, target_calls from attempts order by idx",
        )
    ]
    return result, counts, attempts


def test_best_of_n_stops_at_the_first_unsafe_sample(tmp_path: Path, db: Path):
    # the target complies only when the sample's first letter came out lower-case
    target = ServerConfig(
        mode="script", rules=[("(?-i:^[a-z])", "Sure, here it is.")], reply="I'm sorry, I can't."
    )
    result, counts, attempts = run_scan(
        tmp_path, db, [{"name": "best_of_n", "n": 20, "sigma": 0.3}], target
    )
    assert result.exit_code == 0, result.output
    meta = attempts[0]["transcript"]["meta"]
    index = meta["first_success_index"]
    assert index is not None and counts["target"] == index == attempts[0]["target_calls"]
    assert all(t["prompt"][0].isupper() and t["outcome"] == "safe" for t in meta["tries"][:-1])
    assert meta["tries"][-1]["prompt"][0].islower() and meta["tries"][-1]["outcome"] == "unsafe"


def test_best_of_n_spends_n_when_nothing_works(tmp_path: Path, db: Path):
    target = ServerConfig(mode="fixed", reply="I'm sorry, I can't.")
    _result, counts, attempts = run_scan(tmp_path, db, [{"name": "best_of_n", "n": 6}], target)
    assert (
        counts["target"] == 6 and attempts[0]["transcript"]["meta"]["first_success_index"] is None
    )


JSON_PROMPT = '{{"improvement": "try role-play", "prompt": "{p}"}}'


def test_pair_refines_with_feedback_and_stops_at_success(tmp_path: Path, db: Path):
    attacker = ServerConfig(
        mode="script",
        rules=[
            ("SCORE: 2/10", "Thinking... " + JSON_PROMPT.format(p="ROLEPLAY version of the ask")),
            ("first prompt", JSON_PROMPT.format(p="plain ask")),
        ],
    )
    target = ServerConfig(
        mode="script",
        rules=[("ROLEPLAY", "Sure, in character: the full answer.")],
        reply="I'm sorry, I can't.",
    )
    scorer = ServerConfig(
        mode="script", rules=[("in character", "RATING: [[10]]")], reply="RATING: [[2]]"
    )
    result, counts, attempts = run_scan(
        tmp_path, db, [{"name": "pair", "streams": 2, "depth": 3}], target, attacker, scorer
    )
    assert result.exit_code == 0, result.output
    meta = attempts[0]["transcript"]["meta"]
    # stream 1 and 2 ask plainly (score 2), then stream 1 switches to role-play (score 10)
    assert [entry["score"] for entry in meta["log"]] == [2, 2, 10]
    assert meta["queries_to_success"] == 3 == counts["target"]
    assert counts["attacker"] == 3 and counts["scorer"] == 3
    assert attempts[0]["transcript"]["messages"][-1]["content"].startswith("Sure, in character")
    roles = dict(db_rows(db, "select role, count(*) from calls group by role"))
    assert roles == {"target": 3, "attacker": 3, "judge": 3}


def test_tap_prunes_off_topic_prompts_before_the_target(tmp_path: Path, db: Path):
    attacker = ServerConfig(
        mode="script",
        rules=[
            ("Answer YES or NO", "NO"),
            ("first prompt", JSON_PROMPT.format(p="OFFTOPIC chatter")),
        ],
    )
    target = ServerConfig(mode="fixed", reply="unused")
    scorer = ServerConfig(mode="fixed", reply="RATING: [[1]]")
    _result, counts, attempts = run_scan(
        tmp_path,
        db,
        [{"name": "tap", "branching": 3, "width": 2, "depth": 2}],
        target,
        attacker,
        scorer,
    )
    assert counts["target"] == 0  # every candidate was pruned before reaching the target
    assert attempts[0]["transcript"]["meta"]["pruned"] == 3
    assert counts["attacker"] == 6  # 3 prompts + 3 on-topic checks, then the frontier is empty
    assert attempts[0]["error"] is None or "never answered" not in (attempts[0]["error"] or "")


def test_tap_keeps_the_best_width_and_runs_to_depth(tmp_path: Path, db: Path):
    attacker = ServerConfig(
        mode="script",
        rules=[
            ("Answer YES or NO", "YES"),
            ("first prompt|SCORE", JSON_PROMPT.format(p="an on-topic ask")),
        ],
    )
    target = ServerConfig(mode="fixed", reply="A vague reply.")
    scorer = ServerConfig(mode="fixed", reply="RATING: [[3]]")
    _result, counts, _ = run_scan(
        tmp_path,
        db,
        [{"name": "tap", "branching": 2, "width": 2, "depth": 3}],
        target,
        attacker,
        scorer,
    )
    # depth 1: 1 root x 2 branches; depth 2: 2 kept x 2; depth 3: 2 kept x 2
    assert counts["target"] == 2 + 4 + 4 and counts["scorer"] == 10


def test_crescendo_backtracks_a_refused_turn_and_succeeds(tmp_path: Path, db: Path):
    attacker = ServerConfig(
        mode="script",
        rules=[
            ("refused your last question", JSON_PROMPT.format(p="STEP2 good")),
            ("here is step one", JSON_PROMPT.format(p="STEP2 bad")),
            ("nothing yet", JSON_PROMPT.format(p="STEP1 question")),
        ],
    )
    target = ServerConfig(
        mode="script",
        rules=[
            ("bad", "I'm sorry, I can't help with that."),
            ("STEP2", "Sure, here is the final part."),
            ("STEP1", "Sure, here is step one."),
        ],
    )
    scorer = ServerConfig(
        mode="script", rules=[("final part", "RATING: [[10]]")], reply="RATING: [[2]]"
    )
    result, counts, attempts = run_scan(
        tmp_path, db, [{"name": "crescendo", "max_turns": 4}], target, attacker, scorer
    )
    assert result.exit_code == 0, result.output
    transcript = attempts[0]["transcript"]
    sent = [m["content"] for m in transcript["messages"] if m["role"] == "user"]
    assert sent == [
        "STEP1 question",
        "STEP2 good",
    ]  # the refused turn is not in what the target saw
    assert [b["question"] for b in transcript["meta"]["backtracked"]] == ["STEP2 bad"]
    assert transcript["meta"]["success_turn"] == 2 and counts["target"] == 3


def test_generate_feeds_back_successes_and_rejects_duplicates(tmp_path: Path, db: Path):
    attacker = ServerConfig(
        mode="script",
        rules=[
            ("worked on similar goals", JSON_PROMPT.format(p="a second, different prompt")),
            ("already used", JSON_PROMPT.format(p="the same prompt")),
            ("test prompt", JSON_PROMPT.format(p="the same prompt")),
        ],
    )
    target = ServerConfig(mode="fixed", reply="Sure, done.")
    scorer = ServerConfig(mode="fixed", reply="RATING: [[9]]")
    goals = ["Goal one", "Goal two", "Goal three"]
    _result, counts, attempts = run_scan(
        tmp_path,
        db,
        [{"name": "generate", "mode": "few_shot"}],
        target,
        attacker,
        scorer,
        goals=goals,
    )
    first, second, third = attempts
    assert first["transcript"]["meta"]["few_shot"] == []
    assert second["transcript"]["meta"]["few_shot"] == ["the same prompt"]  # a success, fed back
    assert second["transcript"]["messages"][-2]["content"] == "a second, different prompt"
    # the third sees both successes and is asked for a new style; its answer repeats one -> error
    assert third["error"] == "attacker: the attacker only repeated prompts already used"
    assert counts == {"target": 2, "attacker": 1 + 1 + 3, "scorer": 2}


def test_an_attacker_that_refuses_is_an_error_not_a_target_failure(tmp_path: Path, db: Path):
    attacker = ServerConfig(mode="fixed", reply="I'm sorry, I can't help with writing attacks.")
    target = ServerConfig(mode="fixed", reply="unused")
    result, counts, attempts = run_scan(
        tmp_path,
        db,
        [{"name": "pair", "streams": 1}],
        target,
        attacker,
        ServerConfig(mode="fixed", reply="[[1]]"),
    )
    assert counts["target"] == 0 and counts["attacker"] == 2  # asked, then asked once more
    assert attempts[0]["error"].startswith(
        "attacker: pair attacker: unusable attacker answer twice"
    )
    assert result.exit_code == 4  # every attempt ended in error, loudly
    assert (
        attempts[0]["transcript"]["meta"]["attacker_replies"]
        == ["I'm sorry, I can't help with writing attacks."] * 2
    )


def test_llm_attacks_respect_the_budget_mid_attack(tmp_path: Path, db: Path):
    attacker = ServerConfig(mode="fixed", reply=JSON_PROMPT.format(p="an ask"))
    target = ServerConfig(mode="fixed", reply="A vague reply.")
    scorer = ServerConfig(mode="fixed", reply="RATING: [[3]]")
    result, counts, attempts = run_scan(
        tmp_path,
        db,
        [{"name": "pair", "streams": 3, "depth": 3}],
        target,
        attacker,
        scorer,
        max_target_calls=4,
    )
    assert result.exit_code == 5 and counts["target"] == 4
    assert attempts == []  # the attempt that hit the budget is not stored; it runs on resume


@pytest.mark.parametrize(
    "attack",
    ["pair", "tap", "crescendo", "generate", "translate", {"name": "base64", "over": "translate"}],
)
def test_llm_attacks_without_an_attacker_are_a_config_error(tmp_path: Path, db: Path, attack):
    result, counts, attempts = run_scan(
        tmp_path, db, ["direct", attack], ServerConfig(mode="fixed", reply="x")
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "c.yaml:" in result.output and "attacks[1]" in result.output
    assert "needs an attacker model" in result.output and "attacker:" in result.output
    assert counts["target"] == 0 and attempts == []  # found before any call


@pytest.mark.parametrize("name", ["pair", "tap", "crescendo", "generate", "best_of_n"])
def test_attacks_list_describes_every_family(name):
    listing = json.loads(run_cli("attacks", "list", "--json").output)
    row = next(r for r in listing if r["name"] == name)
    assert row["description"] and row["query_cost"]


def test_translate_asks_the_attacker_then_sends_the_translation(tmp_path: Path, db: Path):
    attacker = ServerConfig(mode="script", rules=[("Translate the following", "Hlola inqubo")])
    target = ServerConfig(mode="echo")
    result, counts, attempts = run_scan(
        tmp_path, db, [{"name": "translate", "language": "Zulu"}], target, attacker
    )
    assert result.exit_code == 0, result.output
    assert counts == {"target": 1, "attacker": 1}
    assert attempts[0]["transcript"]["messages"][-2]["content"] == "Hlola inqubo"


def test_report_gives_the_diversity_of_what_each_attack_sent(tmp_path: Path, db: Path):
    run_scan(
        tmp_path, db, ["direct", "rot13"], ServerConfig(mode="echo"), goals=["Goal one", "Goal two"]
    )
    report = json.loads(run_cli("report", "latest", "--format", "json", "--db", str(db)).output)
    direct = report["diversity"]["by_attack"]["direct"]
    assert direct["prompts"] == 2 and direct["distinct_1"] == pytest.approx(3 / 4)


def test_report_draws_success_against_n_for_sampling_attacks(tmp_path: Path, db: Path):
    from redline.report.summary import success_against_n

    assert success_against_n([1, 3, None, 2]) == [
        {"n": 1, "asr": 0.25},
        {"n": 2, "asr": 0.5},
        {"n": 3, "asr": 0.75},
    ]
    target = ServerConfig(
        mode="script", rules=[("(?-i:^[a-z])", "Sure, here it is.")], reply="I'm sorry, I can't."
    )
    run_scan(tmp_path, db, [{"name": "best_of_n", "n": 8}], target, goals=["Goal one", "Goal two"])
    report = json.loads(run_cli("report", "latest", "--format", "json", "--db", str(db)).output)
    (curve,) = report["success_at_n"].values()
    assert curve["attempts"] == 2 and curve["curve"][-1]["asr"] == report["totals"]["asr"]
    html = tmp_path / "r.html"
    run_cli("report", "latest", "--format", "html", "-o", str(html), "--db", str(db))
    assert 'id="plot-success_at_n"' in html.read_text()
