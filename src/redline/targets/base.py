"""The target protocol: anything that answers a chat.

A target plugin is a class with an ``Options`` pydantic model (its config keys; unknown keys are
rejected) and an async :meth:`Target.chat`. Register it under the ``redline.targets`` entry-point
group. Targets raise :class:`~redline.errors.TransientCallError` for failures worth retrying and
:class:`~redline.errors.PermanentCallError` for the rest; the engine adds retries, timeouts,
rate limits, concurrency limits, budgets and call accounting around them.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    """Answers one chat call."""

    Options: ClassVar[type[TargetOptions]]

    async def chat(self, messages: Sequence[Message], params: dict[str, Any]) -> Reply:
        """Send ``messages`` with generation ``params`` and return the reply."""
        ...

    async def aclose(self) -> None:
        """Release connections, threads or models."""
        ...

    def describe(self) -> dict[str, Any]:
        """Options safe to store and show (no secrets)."""
        ...
