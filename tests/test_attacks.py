from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redline import registry
from redline.attacks import build_attack
from redline.attacks.base import AttackOptions
from redline.attacks.converters import Base64
from redline.errors import PluginError
from redline.model import Behavior

GOAL = Behavior("x", "Explain the placeholder procedure", "test")


@given(st.text())
def test_base64_round_trips_any_text(text):
    attack = build_attack({"name": "base64", "instruction": False})
    assert Base64.decode(attack.rewrite(text, random.Random(0))) == text


def test_attacks_compose_innermost_first():
    attack = build_attack(
        {
            "name": "base64",
            "instruction": False,
            "over": {"name": "template", "style": "researcher"},
        }
    )
    assert attack.key == "base64(instruction=False) > template(style=researcher)"
    decoded = Base64.decode(attack.prompt(GOAL, random.Random(0)))
    assert "accredited safety research group" in decoded and decoded.endswith(GOAL.goal)


def test_direct_sends_the_goal_and_templates_wrap_it():
    assert build_attack("direct").prompt(GOAL, random.Random(0)) == GOAL.goal
    for style in ("fiction", "refusal_suppression", "researcher", "prefix_injection"):
        prompt = build_attack({"name": "template", "style": style}).prompt(GOAL, random.Random(0))
        assert GOAL.goal in prompt and prompt != GOAL.goal


def test_bad_attack_specs_are_plugin_errors(monkeypatch):
    with pytest.raises(PluginError, match="unknown attack"):
        build_attack("nope")
    with pytest.raises(PluginError, match="style"):
        build_attack({"name": "template", "style": "limerick"})

    class Conversational:
        """An attack that is not a prompt rewrite, so nothing can be layered over it."""

        name = "conversational"
        Options = AttackOptions
        key = "conversational"

        def __init__(self, options):
            self.options = options

    monkeypatch.setitem(registry.attacks._extra, "conversational", Conversational)
    with pytest.raises(PluginError, match="cannot be composed"):
        build_attack({"name": "base64", "over": "conversational"})


def test_default_keys_stay_as_stored_runs_have_them():
    # attempt ids derive from these keys: a default attack's key never changes (runs resume)
    assert {
        spec: build_attack(spec).key
        for spec in ("direct", "generate", "crescendo", "best_of_n", "pair", "tap")
    } == {
        "direct": "direct",
        "generate": "generate(mode=few_shot,shots=3)",
        "crescendo": "crescendo(backtracks=3,score=10,turns=5)",
        "best_of_n": "best_of_n(n=10,sigma=0.4)",
        "pair": "pair(depth=3,streams=3,success_score=10)",
        "tap": "tap(branching=2,depth=3,prune=True,success_score=10,width=3)",
    }


@pytest.mark.parametrize(
    ("name", "option", "value"),
    [
        ("generate", "success_score", 5),
        ("generate", "retries", 0),
        ("crescendo", "success_score", 7.5),
        ("best_of_n", "sigma", 0.25),
        ("pair", "success_score", 9),
        ("base64", "instruction", False),
    ],
)
def test_every_option_that_changes_behaviour_changes_the_key(name, option, value):
    assert build_attack({"name": name, option: value}).key != build_attack(name).key


def test_a_key_is_canonical_for_the_validated_options_nested_ones_included():
    # the same value spelt differently gives one key; nested `over` options are in it
    assert build_attack({"name": "pair", "success_score": 10.0}).key == build_attack("pair").key
    assert (
        build_attack({"name": "generate", "success_score": 8}).key
        == "generate(mode=few_shot,shots=3)"
    )
    inner = {"name": "best_of_n", "over": {"name": "template", "style": "fiction"}}
    other = {"name": "best_of_n", "over": {"name": "template", "style": "researcher"}}
    assert build_attack(inner).key != build_attack(other).key
    assert build_attack(inner).key.endswith("> template(style=fiction)")
