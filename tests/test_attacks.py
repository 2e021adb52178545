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
