"""Value types shared by every part of redline.

These are plain frozen dataclasses: cheap to build in the hot path and safe to pass between
tasks. Pydantic is used only at the edges (config files, user data files).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]
CallRole = Literal["target", "attacker", "judge"]


def parse_arguments(raw: Any) -> dict[str, Any]:
    """Tool-call arguments as a dict, whatever form a target reported them in.

    A mapping as it is, JSON text (the OpenAI wire form) decoded, none as ``{}``, anything
    else under ``_unparsed``. A model's malformed arguments are part of its reply, not a
    failure of the call.
    """
    if raw is None:
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, str):
        try:
            decoded = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return {"_unparsed": raw}
        if isinstance(decoded, dict):
            return decoded
    return {"_unparsed": raw}


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call a model asked for, and what the (fake) tool answered.

    ``arguments`` are the decoded JSON arguments; arguments that were not a JSON object are
    kept as ``{"_unparsed": TEXT}``. ``result`` is ``None`` until the tool has run.
    """

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    result: str | None = None
    id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The stored form: ``{"name", "arguments", "result", "id"}``."""
        return {"name": self.name, "arguments": self.arguments, "result": self.result,
                "id": self.id}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolCall:
        """Rebuild a tool call from :meth:`to_dict`'s form."""
        return cls(
            name=str(data.get("name", "")),
            arguments=parse_arguments(data.get("arguments")),
            result=None if data.get("result") is None else str(data["result"]),
            id=None if data.get("id") is None else str(data["id"]),
        )


def tool_calls_from(raw: Any) -> tuple[ToolCall, ...]:
    """Tool calls a target reported: a list of :class:`ToolCall` or ``{"name", ...}`` objects.

    ``None`` is no call. Anything else raises ``ValueError`` saying what is wrong (a target
    turns it into its own error, naming where the list came from).
    """
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError(f"'tool_calls' must be a list, got {type(raw).__name__}")
    calls = []
    for index, item in enumerate(raw):
        if isinstance(item, ToolCall):
            calls.append(item)
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            calls.append(ToolCall.from_dict(item))
        else:
            raise ValueError(f"tool_calls[{index}] must be an object with a string 'name'")
    return tuple(calls)


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message.

    ``tool_calls`` (an assistant asking for tools) and ``tool_call_id`` (a ``tool`` message
    answering one) only appear inside an application's own conversation with its model.
    """

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the OpenAI wire form ``{"role": ..., "content": ...}`` (and tool fields)."""
        wire: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            wire["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                }
                for call in self.tool_calls
            ]
        if self.tool_call_id is not None:
            wire["tool_call_id"] = self.tool_call_id
        return wire


@dataclass(frozen=True, slots=True)
class Behavior:
    """Something the target must not do (or, when ``benign``, a look-alike it should answer)."""

    id: str
    goal: str
    category: str
    benign: bool = False
    tags: tuple[str, ...] = ()
    pair: str | None = None
    """Id of the harmful behaviour this benign look-alike mirrors (or the reverse)."""
    scenario: dict[str, Any] | None = field(default=None, hash=False)
    """An application scenario (``redline.apps.scenario.Scenario`` in JSON form): documents
    planted as retrieved content and what success means. ``None`` for plain behaviours."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts reported by a model (zeros when the endpoint does not report them)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Reply:
    """What a target answered to one chat call."""

    text: str
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    finish_reason: str | None = None
    model: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    """Tools the model asked for; an application's reply lists the calls it ran, results
    included."""


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One request to a target, attacker or judge model, successful or not."""

    role: CallRole
    started_at: float
    latency_s: float
    ok: bool
    usage: Usage = field(default_factory=Usage)
    status: int | None = None
    error: str | None = None


class Outcome(enum.StrEnum):
    """A judge's verdict on one attempt.

    ``unsafe`` and ``safe`` apply to harmful behaviours; ``complied`` and ``over_refusal`` to
    benign look-alikes. ``error`` means nothing could be judged and is never counted as safe.
    """

    UNSAFE = "unsafe"
    SAFE = "safe"
    COMPLIED = "complied"
    OVER_REFUSAL = "over_refusal"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Verdict:
    """One judge's reading of one attempt."""

    judge: str
    outcome: Outcome
    refused: bool | None = None
    score: float | None = None
    rationale: str = ""
    raw: str | None = None
    partial: bool | None = None
    """For refusal judges that tell them apart: the refusal was partial (some of what was
    asked was still given)."""


@dataclass(slots=True)
class Transcript:
    """The conversation an attack held with the target, plus everything it cost."""

    messages: list[Message] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    error: str | None = None
    """Set when the attack could not finish (the target kept failing, garbage replies, ...)."""
    meta: dict[str, Any] = field(default_factory=dict)
    tool_calls: list[ToolCall] = field(default_factory=list)
    """Every tool call the target's replies reported, in order (recorded by the call gate)."""

    @property
    def last_reply(self) -> str | None:
        """The final assistant message, or ``None`` if the target never answered."""
        for message in reversed(self.messages):
            if message.role == "assistant":
                return message.content
        return None

    @property
    def target_calls(self) -> int:
        """Number of requests sent to the target (retries included)."""
        return sum(1 for call in self.calls if call.role == "target")


@dataclass(frozen=True, slots=True)
class PlannedAttempt:
    """One cell of the plan: an attack on a behaviour, with a deterministic id and seed."""

    id: str
    index: int
    behavior: Behavior
    attack_key: str
    repeat: int
    seed: int


@dataclass(slots=True)
class AttemptResult:
    """A finished attempt, ready for the store."""

    planned: PlannedAttempt
    transcript: Transcript
    verdicts: list[Verdict]
    started_at: float
    ended_at: float
