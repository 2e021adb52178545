"""Generation params of the batched ``local`` path and the llama.cpp sampler chain they build.

The names, defaults and sampler order are those of llama-cpp-python's
``Llama.create_chat_completion`` (the one-at-a-time path), so that a request gives the same
tokens whichever path serves it. Keys that path accepts but the batched path cannot honour
(grammars, tools, log-probs, streaming) are rejected with a message that names them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

NEEDS_ONE_AT_A_TIME = frozenset(
    {
        "functions",
        "function_call",
        "tools",
        "tool_choice",
        "response_format",
        "grammar",
        "logits_processor",
        "logprobs",
        "top_logprobs",
        "stream",
    }
)
"""create_chat_completion keys that only the one-at-a-time path (``parallel: 1``) supports."""

IGNORED = frozenset({"tfs_z", "model"})
"""Keys create_chat_completion accepts and does not use for sampling: accepted here too."""


class GenerationParams(BaseModel):
    """One request's sampling params, with create_chat_completion's defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = 0.2
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    typical_p: float = 1.0
    repeat_penalty: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    mirostat_mode: int = Field(0, ge=0, le=2)
    mirostat_tau: float = 5.0
    mirostat_eta: float = 0.1
    max_tokens: int | None = None
    stop: list[str] = []
    seed: int | None = None
    logit_bias: dict[int, float] | None = None

    @field_validator("stop", mode="before")
    @classmethod
    def _one_stop_string(cls, value: Any) -> Any:
        if value is None:
            return []
        return [value] if isinstance(value, str) else value


def parse_params(params: dict[str, Any]) -> GenerationParams:
    """Validate ``params``; a :class:`ValueError` names every wrong key."""
    unsupported = sorted(NEEDS_ONE_AT_A_TIME & params.keys())
    if unsupported:
        raise ValueError(
            f"params {', '.join(unsupported)} need the one-at-a-time path: set `parallel: 1` "
            "on the local target"
        )
    try:
        return GenerationParams(**{k: v for k, v in params.items() if k not in IGNORED})
    except ValidationError as exc:
        problems = "; ".join(
            f"params.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ValueError(problems) from None


def build_sampler(params: GenerationParams, seed: int, n_vocab: int, last_n: int) -> Any:
    """A llama.cpp sampler chain (caller frees it with ``llama_sampler_free``).

    Same order as ``Llama._init_sampler``: logit bias, penalties, then greedy (temperature 0),
    plain random (temperature < 0), mirostat, or top-k / typical / top-p / min-p / temperature
    / random.
    """
    import llama_cpp

    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())

    def add(sampler: Any) -> None:
        llama_cpp.llama_sampler_chain_add(chain, sampler)

    if params.logit_bias:
        biases = (llama_cpp.llama_logit_bias * len(params.logit_bias))()
        for i, (token, bias) in enumerate(params.logit_bias.items()):
            biases[i] = llama_cpp.llama_logit_bias(token, bias)
        add(llama_cpp.llama_sampler_init_logit_bias(n_vocab, len(params.logit_bias), biases))
    add(
        llama_cpp.llama_sampler_init_penalties(
            n_vocab,
            last_n,
            params.repeat_penalty,
            params.frequency_penalty,
            params.presence_penalty,
        )
    )
    if params.temperature < 0.0:
        add(llama_cpp.llama_sampler_init_dist(seed))
    elif params.temperature == 0.0:
        add(llama_cpp.llama_sampler_init_greedy())
    elif params.mirostat_mode == 1:
        add(
            llama_cpp.llama_sampler_init_mirostat(
                n_vocab, seed, params.mirostat_tau, params.mirostat_eta, 100
            )
        )
    elif params.mirostat_mode == 2:
        add(
            llama_cpp.llama_sampler_init_mirostat_v2(seed, params.mirostat_tau, params.mirostat_eta)
        )
    else:
        add(llama_cpp.llama_sampler_init_top_k(params.top_k))
        add(llama_cpp.llama_sampler_init_typical(params.typical_p, 1))
        add(llama_cpp.llama_sampler_init_top_p(params.top_p, 1))
        add(llama_cpp.llama_sampler_init_min_p(params.min_p, 1))
        add(llama_cpp.llama_sampler_init_temp(params.temperature))
        add(llama_cpp.llama_sampler_init_dist(seed))
    return chain
