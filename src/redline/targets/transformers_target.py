"""``transformers``: a local Hugging Face Transformers model folder, run in-process.

For models that exist as a ``save_pretrained`` folder (model + tokenizer), such as one
fine-tuned with ``examples/safety-finetune/finetune.py``; a GGUF file in a folder
(``gguf_file``) is dequantised on load. The prompt is built with the tokenizer's chat
template; generation is greedy unless ``temperature`` > 0. Each model is loaded once per
process (on first use) and owns one worker thread, so generation never blocks the event loop
and calls to one model are serialised. Needs the ``train`` extra (PyTorch, Transformers).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from redline.errors import ConfigError, MissingExtraError, PermanentCallError
from redline.model import Message, Reply, Usage
from redline.targets.base import TargetOptions

INSTALL_HINT = (
    "the transformers target needs the 'train' extra: pip install 'redline[train]' "
    "(PyTorch CPU, Transformers, PEFT, TRL)"
)
GENERATION_PARAMS = frozenset(
    {"max_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "seed"}
)
"""The generation params this target understands (in ``params`` or per call)."""


class TransformersOptions(TargetOptions):
    """Options of the ``transformers`` target."""

    model_path: str
    """A folder written by ``save_pretrained`` (model and tokenizer), or holding ``gguf_file``."""
    gguf_file: str | None = None
    """A GGUF file inside ``model_path`` to load (dequantised) instead of safetensors."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    n_threads: int | None = Field(None, ge=1)
    """PyTorch CPU threads [default: all cores]."""
    device: str = "cpu"
    """A torch device: ``cpu``, ``cuda``, ``cuda:1``, ``mps``."""
    seed: int = 0


def check_params(params: dict[str, Any], where: str) -> None:
    """Raise :class:`ConfigError` for an unknown generation param or a bad value."""
    unknown = sorted(set(params) - GENERATION_PARAMS)
    if unknown:
        raise ConfigError(
            f"transformers target: unknown {where} {', '.join(unknown)} "
            f"(known: {', '.join(sorted(GENERATION_PARAMS))})"
        )
    if "max_tokens" in params and not (
        isinstance(params["max_tokens"], int) and params["max_tokens"] >= 1
    ):
        raise ConfigError(f"transformers target: {where} max_tokens must be an integer >= 1")
    temperature = params.get("temperature", 0)
    if not isinstance(temperature, int | float) or temperature < 0:
        raise ConfigError(f"transformers target: {where} temperature must be a number >= 0")


def require_extra() -> None:
    """Raise :class:`MissingExtraError`, naming the ``pip install``, without torch/transformers."""
    missing = [name for name in ("torch", "transformers") if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtraError(f"{INSTALL_HINT}; missing: {', '.join(missing)}")


class _LoadedModel:
    """A model, its tokenizer and the single thread that uses them."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="redline-hf")
        self.model: Any = None
        self.tokenizer: Any = None


_models: dict[tuple[str, str | None, str, str], _LoadedModel] = {}
_models_lock = threading.Lock()


def _load(options: TransformersOptions, path: Path, n_threads: int, slot: _LoadedModel) -> None:
    """Load the model into ``slot`` (on its worker thread)."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise MissingExtraError(INSTALL_HINT) from exc
    if options.device == "cpu":
        torch.set_num_threads(n_threads)
    kwargs: dict[str, Any] = {}
    if options.gguf_file is not None:
        kwargs["gguf_file"] = options.gguf_file
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        model: Any = AutoModelForCausalLM.from_pretrained(
            path, dtype=getattr(torch, options.dtype), **kwargs
        )
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"transformers target: cannot load a model from {path}: {exc}") from exc
    if tokenizer.chat_template is None:
        raise ConfigError(f"transformers target: the tokenizer in {path} has no chat template")
    slot.model = model.to(options.device).eval()
    slot.tokenizer = tokenizer


class TransformersTarget:
    """Chat with a Transformers model in this process."""

    Options = TransformersOptions

    def __init__(self, options: TransformersOptions) -> None:
        self.options = options
        self.path = Path(options.model_path).expanduser()
        if not self.path.is_dir():
            raise ConfigError(f"transformers target: model_path {self.path} is not a folder")
        if options.gguf_file is not None and not (self.path / options.gguf_file).is_file():
            raise ConfigError(
                f"transformers target: gguf_file {options.gguf_file} is not in {self.path}"
            )
        if options.gguf_file is None and not (self.path / "config.json").is_file():
            raise ConfigError(
                f"transformers target: {self.path} has no config.json (a folder written by "
                "save_pretrained), and no gguf_file was given"
            )
        check_params(options.params, "param")
        require_extra()
        self.n_threads = options.n_threads or os.cpu_count() or 1

    def _slot(self) -> _LoadedModel:
        """The process-wide slot of this model (loaded on its thread at first use)."""
        key = (str(self.path.resolve()), self.options.gguf_file, self.options.dtype,
               self.options.device)  # fmt: skip
        with _models_lock:
            return _models.setdefault(key, _LoadedModel())

    def _generate(self, slot: _LoadedModel, messages: list[dict[str, str]], params: dict) -> Any:
        if slot.model is None:  # first call (or a failed load): load on this thread
            _load(self.options, self.path, self.n_threads, slot)
        import torch

        tokenizer, model = slot.tokenizer, slot.model
        inputs = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(model.device)
        max_new = int(params["max_tokens"])
        temperature = float(params["temperature"])
        generate: dict[str, Any] = {
            "max_new_tokens": max_new,
            "do_sample": temperature > 0,
            "pad_token_id": tokenizer.pad_token_id
            if tokenizer.pad_token_id is not None
            else tokenizer.eos_token_id,
        }
        if temperature > 0:
            generate["temperature"] = temperature
            for name in ("top_p", "top_k"):
                if name in params:
                    generate[name] = params[name]
            torch.manual_seed(int(params["seed"]))
        else:  # greedy: drop sampling defaults a generation_config.json may carry
            generate.update(temperature=None, top_p=None, top_k=None)
        if "repetition_penalty" in params:
            generate["repetition_penalty"] = float(params["repetition_penalty"])
        started = time.perf_counter()
        with torch.inference_mode():
            output = model.generate(**inputs, **generate)
        elapsed = time.perf_counter() - started
        prompt_tokens = int(inputs["input_ids"].shape[1])
        new_tokens = output[0, prompt_tokens:]
        text = tokenizer.decode(new_tokens, skip_special_tokens=True)
        eos = model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos])
        stopped = len(new_tokens) > 0 and int(new_tokens[-1]) in eos_ids
        finish = "stop" if stopped or len(new_tokens) < max_new else "length"
        return text, prompt_tokens, len(new_tokens), elapsed, finish

    async def chat(self, messages: Sequence[Message], params: dict[str, Any]) -> Reply:
        """Generate a reply on the model's own thread."""
        merged: dict[str, Any] = {"temperature": 0.0, "max_tokens": 256, "seed": self.options.seed}
        merged.update(self.options.params)
        merged.update(params)
        try:
            check_params(merged, "param")
        except ConfigError as exc:
            raise PermanentCallError(str(exc)) from exc
        slot = self._slot()
        loop = asyncio.get_running_loop()
        try:
            text, prompt_tokens, completion_tokens, elapsed, finish = await loop.run_in_executor(
                slot.executor, self._generate, slot, [m.to_dict() for m in messages], merged
            )
        except (TypeError, ValueError, RuntimeError) as exc:
            raise PermanentCallError(f"transformers model rejected the request: {exc}") from exc
        if not text.strip():
            raise PermanentCallError("the transformers model returned empty content")
        return Reply(
            text=text,
            usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
            latency_s=elapsed,
            finish_reason=finish,
            model=self.path.name,
        )

    async def aclose(self) -> None:
        """Keep the model loaded: it is cached for the rest of the process."""

    def describe(self) -> dict[str, Any]:
        """Options plus the resolved model folder."""
        return self.options.model_dump() | {"model_path": str(self.path.resolve())}
