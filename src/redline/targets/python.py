"""A Python callable as a target: ``module:function``, sync or async.

The function receives a list of ``{"role", "content"}`` dicts and the generation params, and
returns either a string, a :class:`~redline.model.Reply`, or a dict with ``text`` and optionally
``prompt_tokens``, ``completion_tokens`` and ``tool_calls`` (the tools an application ran: a
list of ``{"name", "arguments", "result"}``, stored with the attempt for scenario judges). A
sync function runs in a worker thread so it never blocks the loop.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from redline.errors import ConfigError, PermanentCallError
from redline.model import Message, Reply, ToolCall, Usage, tool_calls_from
from redline.targets.base import TargetOptions


class PythonOptions(TargetOptions):
    """Options of the ``python`` target."""

    function: str
    """``package.module:function``."""


def _working_directory_on_path() -> None:
    """Make modules in the working directory importable, as they are for ``python -m``.

    The ``redline`` console script puts its own folder on ``sys.path``, not the working
    directory; it is appended (installed packages keep precedence over same-named files).
    """
    cwd = os.getcwd()
    entries = {os.path.abspath(entry or os.curdir) for entry in sys.path}
    if cwd not in entries:
        sys.path.append(cwd)


def load_callable(spec: str) -> Callable[..., Any]:
    """Import ``module:function``; raise :class:`ConfigError` naming what is wrong."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"python target function must look like 'module:function', got {spec!r}")
    _working_directory_on_path()
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"python target: cannot import module {module_name!r}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"python target: {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"python target: {spec!r} is not callable")
    return obj


def _accepts_params(func: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return False
    return sum(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters
    ) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in parameters)


class PythonTarget:
    """Call a Python function as if it were a chat model."""

    Options = PythonOptions

    def __init__(self, options: PythonOptions) -> None:
        self.options = options
        self.func = load_callable(options.function)
        self.is_async = inspect.iscoroutinefunction(self.func)
        self.pass_params = _accepts_params(self.func)

    async def chat(self, messages: Sequence[Message], params: dict[str, Any]) -> Reply:
        """Call the function with the messages (and params when it takes them)."""
        payload = [m.to_dict() for m in messages]
        args: tuple[Any, ...] = (payload, {**self.options.params, **params})
        if not self.pass_params:
            args = args[:1]
        started = time.perf_counter()
        if self.is_async:
            result = await self.func(*args)
        else:
            result = await asyncio.to_thread(self.func, *args)
        latency = time.perf_counter() - started
        tool_calls: tuple[ToolCall, ...] = ()
        text: Any
        if isinstance(result, Reply):
            text, usage, tool_calls = result.text, result.usage, result.tool_calls
        elif isinstance(result, dict):
            text = result.get("text")
            usage = Usage(
                prompt_tokens=int(result.get("prompt_tokens") or 0),
                completion_tokens=int(result.get("completion_tokens") or 0),
            )
            tool_calls = self._tool_calls(result.get("tool_calls"))
        else:
            text, usage = result, Usage()
        if not isinstance(text, str) or not text.strip():
            raise PermanentCallError(
                f"python target {self.options.function} returned {type(text).__name__}, "
                "expected a non-empty string"
            )
        return Reply(text=text, usage=usage, latency_s=latency, tool_calls=tool_calls)

    def _tool_calls(self, raw: Any) -> tuple[ToolCall, ...]:
        """A returned ``tool_calls`` list, checked: each an object with a string ``name``."""
        try:
            return tool_calls_from(raw)
        except ValueError as exc:
            raise PermanentCallError(f"python target {self.options.function}: {exc}") from None

    async def aclose(self) -> None:
        """Nothing to release."""

    def describe(self) -> dict[str, Any]:
        """All options (none are secret)."""
        return self.options.model_dump()
