"""The batched local path's params: the keys and defaults of create_chat_completion, checked
before a request takes a slot (no model needed)."""

from __future__ import annotations

import pytest

from redline.targets.llama_params import parse_params


def test_defaults_are_create_chat_completion_defaults():
    params = parse_params({})
    assert (params.temperature, params.top_p, params.top_k, params.min_p) == (0.2, 0.95, 40, 0.05)
    assert params.repeat_penalty == 1.0 and params.max_tokens is None and params.stop == []


def test_one_stop_string_becomes_a_list_and_ignored_keys_pass():
    params = parse_params({"stop": "\n", "tfs_z": 1.0, "temperature": 0, "seed": 7})
    assert params.stop == ["\n"] and params.temperature == 0.0 and params.seed == 7


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"temprature": 0.1}, r"params\.temprature: Extra inputs are not permitted"),
        ({"top_k": "many"}, r"params\.top_k: Input should be a valid integer"),
        ({"mirostat_mode": 3}, r"params\.mirostat_mode"),
        ({"stop": [1]}, r"params\.stop\.0"),
    ],
)
def test_bad_params_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        parse_params(params)


def test_params_only_the_one_at_a_time_path_supports_say_so():
    with pytest.raises(ValueError, match=r"params grammar, logprobs need .*parallel: 1"):
        parse_params({"logprobs": True, "grammar": None, "temperature": 0})
