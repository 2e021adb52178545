"""The target protocol: anything that answers a chat.

A target plugin is a class with an ``Options`` pydantic model (its config keys; unknown keys are
rejected) and an async :meth:`Target.chat`. Register it under the ``redline.targets`` entry-point
group. Targets raise :class:`~redline.errors.TransientCallError` for failures worth retrying and
:class:`~redline.errors.PermanentCallError` for the rest; the engine adds retries, timeouts,
rate limits, concurrency limits, budgets and call accounting around them.

Lifecycle: a target may define ``async aclose()``, to release what it holds (connections,
threads, a loaded model); it is optional. The engine calls it, through :func:`close_target`, on
every target it built (the target, the attacker, judge models) when a run, a re-judging, a
calibration or a preflight check ends, and never calls the target again after it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from redline.model import Message, Reply


class TargetOptions(BaseModel):
    """Keys every target accepts."""

    model_config = ConfigDict(extra="forbid")

    type: str
    system_prompt: str | None = None
    params: dict[str, Any] = {}


@runtime_checkable
class Target(Protocol):
    """Answers one chat call.

    Optional: ``async aclose()`` (see the module's docstring; not part of this protocol's
    checked members, since a target without one is valid).
    """

    Options: ClassVar[type[TargetOptions]]

    async def chat(self, messages: Sequence[Message], params: dict[str, Any]) -> Reply:
        """Send ``messages`` with generation ``params`` and return the reply."""
        ...

    def describe(self) -> dict[str, Any]:
        """Options safe to store and show (no secrets)."""
        ...


def describe_target(target: object) -> dict[str, Any]:
    """``target``'s optional ``describe()``, or its class name when it has none."""
    describe = getattr(target, "describe", None)
    return describe() if callable(describe) else {"type": type(target).__name__}


def target_name(described: dict[str, Any]) -> str:
    """``openai: gpt-x``: a described target's type and what names it (model, URL, function)."""
    for key in ("model", "url", "function", "base_url"):
        if described.get(key):
            return f"{described.get('type')}: {described[key]}"
    return str(described.get("type"))


def application_model(spec: Mapping[str, Any]) -> tuple[dict[str, Any], str] | None:
    """The model spec an application target calls, and where it stands in the target.

    The model inside an ``app`` target (``target.model``) or handed to a ``python`` application
    in ``target.params.model``; ``None`` for a target that is itself the model.
    """
    model = spec.get("model")
    if spec.get("type") == "app" and isinstance(model, dict):
        return model, "target.model"
    params = spec.get("params")
    inner = params.get("model") if isinstance(params, Mapping) else None
    if isinstance(inner, dict) and isinstance(inner.get("type"), str):
        return inner, "target.params.model"
    return None


async def close_target(target: object) -> None:
    """Call ``target``'s optional ``aclose()``; a failure there is not the caller's problem.

    A target without ``aclose`` holds nothing to release.
    """
    aclose = getattr(target, "aclose", None)
    if callable(aclose):
        with contextlib.suppress(Exception):
            await aclose()
