"""Public behaviour sets read from their original formats (samples in tests/data/public_sets/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import db_rows, run_cli, small_campaign, write_config

from redline.behaviors import load_builtin, select
from redline.behaviors.public import CONTEXT_SEPARATOR, PUBLIC_SETS, guess_category, load_public
from redline.behaviors.taxonomy import CATEGORIES
from redline.config import load_config
from redline.errors import ConfigError, DataError

SAMPLES = Path(__file__).parent / "data" / "public_sets"
FILES = {
    "harmbench": "harmbench_behaviors_text_all.csv",
    "jailbreakbench": "jailbreakbench",
    "advbench": "harmful_behaviors.csv",
    "strongreject": "strongreject_format.csv",
    "xstest": "xstest_prompts.csv",
    "sorry_bench": "sorry_bench_format.jsonl",
    "do_not_answer": "do_not_answer_format.csv",
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_each_reader_reads_its_sample_into_the_taxonomy(name: str) -> None:
    behaviors = load_public(name, SAMPLES / FILES[name])
    assert behaviors
    assert {b.category for b in behaviors} <= set(CATEGORIES)
    assert all(b.id.startswith(name) and name in b.tags for b in behaviors)
    assert len({b.id for b in behaviors}) == len(behaviors)


def test_every_set_is_documented_with_licence_and_citation() -> None:
    assert set(PUBLIC_SETS) == set(FILES)
    docs = (Path(__file__).parents[1] / "docs" / "behaviors.md").read_text()
    for public in PUBLIC_SETS.values():
        assert public.licence and public.citation and public.source
        assert f"`{public.name}`" in docs


def test_harmbench_maps_categories_and_keeps_the_original() -> None:
    by_id = {b.id: b for b in load_public("harmbench", SAMPLES / FILES["harmbench"])}
    hack = by_id["harmbench-government_email_hack_instructions"]
    assert hack.category == "cybercrime" and "harmbench:cybercrime_intrusion" in hack.tags
    assert by_id["harmbench-fossil_fuels_better"].category == "misinformation"
    # "illegal" is broad: the goal's words decide (a social security number: privacy)
    assert by_id["harmbench-personal_info_phishing_email"].category == "privacy"


def test_harmbench_contextual_behaviour_carries_its_context() -> None:
    by_id = {b.id: b for b in load_public("harmbench", SAMPLES / FILES["harmbench"])}
    contextual = by_id["harmbench-reddit_january_6_commitee_lie_reply"]
    context, goal = contextual.goal.split(CONTEXT_SEPARATOR)
    assert context.startswith("Rather than fret") and context.endswith("January 6th Insurrection.")
    assert goal.startswith("Reply to this Reddit post")
    assert "contextual" in contextual.tags
    assert CONTEXT_SEPARATOR not in by_id["harmbench-fossil_fuels_better"].goal


def test_jailbreakbench_folder_pairs_benign_behaviours_by_index() -> None:
    behaviors = load_public("jailbreakbench", SAMPLES / "jailbreakbench")
    harmful = {b.id: b for b in behaviors if not b.benign}
    benign = {b.id: b for b in behaviors if b.benign}
    assert len(harmful) == len(benign) == 4
    for b in benign.values():
        assert b.pair in harmful and harmful[b.pair].pair == b.id
        assert harmful[b.pair].category == b.category
    assert harmful["jailbreakbench-10"].category == "cybercrime"
    assert harmful["jailbreakbench-35"].category == "fraud_scams"
    # the pairs survive sampling: a kept harmful behaviour keeps its look-alike
    kept = select(behaviors, sample=2, seed=3)
    assert sum(b.benign for b in kept) == 2


def test_jailbreakbench_single_files() -> None:
    harmful = load_public("jailbreakbench", SAMPLES / "jailbreakbench" / "harmful-behaviors.csv")
    benign = load_public("jailbreakbench", SAMPLES / "jailbreakbench" / "benign-behaviors.csv")
    assert not any(b.benign for b in harmful) and all(b.benign for b in benign)
    assert all(b.pair is None for b in harmful + benign)


def test_xstest_safe_prompts_are_benign_and_contrasts_paired() -> None:
    by_id = {b.id: b for b in load_public("xstest", SAMPLES / FILES["xstest"])}
    safe, contrast = by_id["xstest-1"], by_id["xstest-26"]
    assert safe.benign and not contrast.benign
    assert safe.pair == "xstest-26" and contrast.pair == "xstest-1"
    assert by_id["xstest-17"].category == by_id["xstest-42"].category == "illegal_drugs"
    assert by_id["xstest-426"].category == "privacy" and not by_id["xstest-426"].benign
    assert by_id["xstest-251"].benign and by_id["xstest-251"].pair is None


def test_xstest_ships_with_redline() -> None:
    behaviors = load_builtin("xstest")
    assert len(behaviors) == 450
    assert sum(b.benign for b in behaviors) == 250
    assert sum(1 for b in behaviors if b.benign and b.pair) == 150


def test_advbench_and_sorry_bench_categories_from_the_goal() -> None:
    advbench = load_public("advbench", SAMPLES / FILES["advbench"])
    assert [b.category for b in advbench] == [
        "cybercrime",
        "cybercrime",
        "fraud_scams",
        "self_harm",
    ]
    sorry = {b.id: b for b in load_public("sorry_bench", SAMPLES / FILES["sorry_bench"])}
    assert "style:slang" in sorry["sorry_bench-2-slang"].tags
    assert guess_category("a question about nothing in particular") == "violent_crime"


def test_missing_column_names_file_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "harmbench.csv"
    bad.write_text("Behavior,SemanticCategory,BehaviorID\nx,illegal,a\n")
    with pytest.raises(DataError, match=r"harmbench.csv:1: not HarmBench's .*'FunctionalCategory'"):
        load_public("harmbench", bad)


def test_wrong_set_is_a_clear_error() -> None:
    with pytest.raises(DataError, match=r"not HarmBench's.*no column 'FunctionalCategory'"):
        load_public("harmbench", SAMPLES / "jailbreakbench" / "harmful-behaviors.csv")
    with pytest.raises(DataError, match=r"not XSTest's .*no column 'id'"):
        load_public("xstest", SAMPLES / FILES["advbench"])


def test_empty_goal_names_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "harmful_behaviors.csv"
    bad.write_text('goal,target\nfine goal,Sure\n"",Sure\n')
    with pytest.raises(DataError, match=r"harmful_behaviors.csv:3: empty 'goal'"):
        load_public("advbench", bad)


def test_sorry_bench_missing_key(tmp_path: Path) -> None:
    bad = tmp_path / "question.jsonl"
    bad.write_text(json.dumps({"question_id": 1, "turns": ["x"]}) + "\n")
    with pytest.raises(DataError, match=r"question.jsonl:1: .*no key 'category'"):
        load_public("sorry_bench", bad)


def test_unshipped_set_without_file_says_what_to_give(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "c.yaml",
        {
            "target": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
            "behaviors": ["harmbench"],
        },
    )
    with pytest.raises(ConfigError, match=r"not shipped.*file: harmbench_behaviors_text_all\.csv"):
        load_config(path)


def test_bare_shipped_name_in_a_config(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "c.yaml",
        {
            "target": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
            "behaviors": ["xstest"],
        },
    )
    assert load_config(path).sources()[0].builtin == "xstest"


@pytest.mark.parametrize(
    ("name", "sample", "attempts"),
    [("harmbench", FILES["harmbench"], 5), ("jailbreakbench", "jailbreakbench", 8)],
)
def test_one_line_config_scans_a_public_set(
    server, tmp_path: Path, db: Path, name: str, sample: str, attempts: int
) -> None:
    source = {"builtin": name, "file": str(SAMPLES / sample)}
    path = write_config(tmp_path / "c.yaml", small_campaign(server.base_url, source))  # type: ignore[arg-type]
    result = run_cli("scan", str(path), "--db", str(db), "--no-progress")
    assert result.exit_code == 0, result.output
    rows = db_rows(db, "SELECT behavior_id, category, benign FROM attempts")
    assert len(rows) == attempts
    expected = {b.id: b for b in load_public(name, SAMPLES / sample)}
    for behavior_id, category, benign in rows:
        assert expected[behavior_id].category == category
        assert bool(benign) == expected[behavior_id].benign


def test_behaviors_list_and_show() -> None:
    listed = run_cli("behaviors", "list", "--json")
    assert listed.exit_code == 0
    rows = {row["name"]: row for row in json.loads(listed.output)}
    assert set(rows) == {"core", "apps", *PUBLIC_SETS}
    assert (rows["apps"]["harmful"], rows["apps"]["benign"]) == (23, 4)
    assert rows["xstest"]["shipped"] and rows["xstest"]["benign"] == 250
    assert not rows["harmbench"]["shipped"] and rows["harmbench"]["harmful"] is None
    table = run_cli("behaviors", "list")
    assert "behaviors: [xstest]" in table.output and "CC-BY-4.0" in table.output
    shown = run_cli("behaviors", "show", "harmbench", "--file", str(SAMPLES / FILES["harmbench"]))
    assert shown.exit_code == 0
    assert "chemical_biological -> cbrne_weapons" in shown.output
    assert "behaviours: 5 harmful, 0 benign" in shown.output
    unknown = run_cli("behaviors", "show", "nope")
    assert unknown.exit_code == 2 and "unknown behaviour set" in unknown.output
