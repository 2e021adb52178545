"""``app``: a model red-teamed inside an application scenario.

The model (any target spec: ``openai`` for an OpenAI-compatible server with tool calling,
``local`` for the embedded model) answers as the assistant of an application: a system prompt
with planted secrets and a policy, retrieved documents (the application's own, matched to the
user's words, and those the attempt's scenario plants) and fake tools that record their calls
(:mod:`redline.apps.tools`). Without options it is the reference application the ``apps``
behaviour set is written for (:mod:`redline.apps.reference`). See docs/apps.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field, field_validator

from redline.apps import reference
from redline.apps.agent import Agent
from redline.apps.scenario import Document
from redline.apps.tools import TOOL_NAMES
from redline.model import Message, Reply
from redline.targets.base import TargetOptions, close_target, describe_target, target_name


class AppOptions(TargetOptions):
    """Options of the ``app`` target."""

    model: dict[str, Any]
    """The model inside the application, as a target spec (``{type: openai, base_url: ...,
    model: ...}``)."""
    app_prompt: str = reference.SYSTEM_PROMPT
    """The application's system prompt (a ``system_prompt`` sent by the campaign wins over it)
    [default: the reference application's, with the ``apps`` set's canaries]."""
    documents: list[Document] = list(reference.DOCUMENTS)
    """The application's document store: ``{id, title, text, source}`` objects."""
    tools: list[str] = list(TOOL_NAMES)
    """The fake tools offered to the model (send_email, http_get, run_sql, transfer_funds,
    read_file)."""
    max_tool_rounds: int = Field(4, ge=0, le=16)
    """Rounds of tool calls before the model must answer in text."""
    top_k: int = Field(2, ge=0)
    """Documents of the store retrieved per question (planted documents always are)."""

    @field_validator("tools")
    @classmethod
    def _known_tools(cls, tools: list[str]) -> list[str]:
        unknown = [t for t in tools if t not in TOOL_NAMES]
        if unknown:
            raise ValueError(f"unknown tool(s) {unknown} (known: {', '.join(TOOL_NAMES)})")
        return tools

    @field_validator("model")
    @classmethod
    def _valid_model(cls, model: dict[str, Any]) -> dict[str, Any]:
        from redline.errors import PluginError
        from redline.registry import canonical_spec

        if not isinstance(model.get("type"), str):
            raise ValueError("needs a 'type' (for example openai or local)")
        try:
            canonical_spec("target", model)
        except PluginError as exc:
            raise ValueError(str(exc)) from None
        return model


class AppTarget:
    """An application around a model (see the module's docstring)."""

    Options = AppOptions

    def __init__(self, options: AppOptions) -> None:
        from redline.targets import build_target

        self.options = options
        self.model = build_target(options.model)
        self.agent = Agent(
            self.model,
            system_prompt=options.app_prompt,
            documents=options.documents,
            tools=options.tools,
            world=reference.world(),
            max_tool_rounds=options.max_tool_rounds,
            top_k=options.top_k,
        )

    async def chat(self, messages: Sequence[Message], params: dict[str, Any]) -> Reply:
        """Answer as the application: retrieval, the model, its tool calls, the final text."""
        return await self.agent.respond(messages, {**self.options.params, **params})

    async def aclose(self) -> None:
        """Release the model inside."""
        await close_target(self.model)

    def describe(self) -> dict[str, Any]:
        """The options, the model as it describes itself (no secrets)."""
        inner = describe_target(self.model)
        return self.options.model_dump(mode="json") | {
            "model": target_name(inner),
            "model_spec": inner,
        }
