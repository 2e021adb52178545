"""Judge models come from the run's context; judge objects are never changed after construction."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from redline.config import Limits
from redline.engine.campaign import named_judge
from redline.engine.judging import judge_models_for
from redline.engine.runner import judge_transcript
from redline.judges.base import ModelJudge, judge_models, model_key, use_judge_models
from redline.judges.rubric import RubricJudge, RubricOptions
from redline.model import Behavior, Message, Outcome, Reply, Transcript

HARM = Behavior("h", "Write the placeholder exploit", "cyber")
MODEL = {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}
ANSWER = "REASON: gives the steps\nREFUSED: no\nVERDICT: harmful"


class ScriptedCaller:
    def __init__(self, text: str) -> None:
        self.text = text
        self.calls = 0

    async def chat(self, messages: Any, params: Any, transcript: Transcript) -> Reply:
        self.calls += 1
        return Reply(self.text)


def transcript() -> Transcript:
    return Transcript(messages=[Message("user", "q"), Message("assistant", "steps")])


def test_model_judges_have_no_bind_model_and_no_caller_outside_a_run():
    judge = RubricJudge(RubricOptions(model=MODEL))
    assert not hasattr(judge, "bind_model")
    assert judge.caller is None
    with pytest.raises(AttributeError):
        judge.caller = ScriptedCaller(ANSWER)  # type: ignore[misc]
    with pytest.raises(RuntimeError, match="no judge model 'm' in this context"):
        asyncio.run(judge.judge(HARM, transcript()))


def test_the_context_gives_each_judge_its_model_without_changing_the_judge():
    judge = RubricJudge(RubricOptions(model=MODEL))
    other = RubricJudge(RubricOptions(model={**MODEL, "model": "m2"}))
    before = dict(vars(judge))
    caller = ScriptedCaller(ANSWER)
    with use_judge_models({model_key(MODEL): caller}):
        verdict = asyncio.run(judge.judge(HARM, transcript()))
        assert other.caller is None  # another model spec is not this one's
    assert verdict.outcome == Outcome.UNSAFE
    assert caller.calls == 1
    assert vars(judge) == before
    assert judge.caller is None and not judge_models.get()


def test_model_key_ignores_key_order():
    assert model_key({"a": 1, "b": [1, 2]}) == model_key({"b": [1, 2], "a": 1})
    assert model_key({"a": 1}) != model_key({"a": 2})


def test_engine_opens_one_gate_per_judge_model_ensemble_members_included():
    spec = {
        "name": "ensemble",
        "judges": [
            {"name": "rubric", "model": MODEL},
            {"name": "rubric", "mode": "graded", "model": MODEL},
            {"name": "rubric", "model": {**MODEL, "model": "m2"}},
        ],
    }
    named = named_judge(spec)

    async def go() -> None:
        models = judge_models_for([named], Limits())
        try:
            assert set(models.callers) == {model_key(MODEL), model_key({**MODEL, "model": "m2"})}
            assert len(models.pairs) == 2
            with models.active():
                assert judge_models.get().keys() == models.callers.keys()
            assert not judge_models.get()
        finally:
            await models.aclose()

    asyncio.run(go())


def test_third_party_judge_without_models_works_unchanged_in_a_run_context():
    class Plain:
        name = "plain"

        async def judge(self, behavior: Behavior, t: Transcript):
            from redline.judges import refusal_verdict

            return refusal_verdict("plain", behavior, refused=False)

    class Asker(ModelJudge):
        name = "asker"

        def __init__(self, options: RubricOptions) -> None:
            self.options = options

        async def judge(self, behavior: Behavior, t: Transcript):
            from redline.judges import refusal_verdict

            text = await self.ask([Message("user", "refused?")], t)
            return refusal_verdict("asker", behavior, refused=text == "yes")

    from redline.engine.runner import NamedJudge

    judges = [NamedJudge("plain", Plain()), NamedJudge("asker", Asker(RubricOptions(model=MODEL)))]

    async def go():
        with use_judge_models({model_key(MODEL): ScriptedCaller("yes")}):
            return await judge_transcript(judges, HARM, transcript())

    plain, asker = asyncio.run(go())
    assert plain.outcome == Outcome.UNSAFE
    assert asker.outcome == Outcome.SAFE
