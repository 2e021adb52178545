"""An application around a model: a system prompt, retrieved documents and fake tools.

:class:`Agent` is what the ``app`` target and the sample app in ``examples/`` run: it puts the
system prompt and the retrieved documents (its own store's, matched to the user's words, plus
those the attempt plants: :func:`~redline.apps.scenario.planted_documents`) in front of the
conversation, offers the tools (OpenAI-compatible ``tools``), runs every tool the model asks for
on a :class:`~redline.apps.tools.FakeWorld`, and returns the final reply with every tool call,
arguments and result, recorded in :attr:`Reply.tool_calls <redline.model.Reply.tool_calls>`.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Sequence
from typing import Any

from redline.apps.scenario import Document, planted_documents
from redline.apps.tools import FakeWorld, openai_tools
from redline.model import Message, Reply, ToolCall, Usage
from redline.targets.base import Target

_WORD = re.compile(r"[a-z0-9]{3,}")


def retrieve(documents: Sequence[Document], query: str, top_k: int) -> list[Document]:
    """The ``top_k`` documents sharing the most words (3+ letters) with ``query``.

    A document that shares no word is never retrieved.
    """
    words = set(_WORD.findall(query.lower()))
    scored = [
        (len(words & set(_WORD.findall(f"{d.title} {d.text}".lower()))), i, d)
        for i, d in enumerate(documents)
    ]
    ranked = sorted((s for s in scored if s[0] > 0), key=lambda s: (-s[0], s[1]))
    return [d for _, _, d in ranked[:top_k]]


def context_block(documents: Sequence[Document]) -> str:
    """Retrieved documents as the application shows them to its model."""
    if not documents:
        return ""
    parts = [
        f'<document id="{d.id}" source="{d.source}" title="{d.title}">\n{d.text}\n</document>'
        for d in documents
    ]
    return "\n\nRetrieved documents:\n" + "\n".join(parts)


class Agent:
    """Answers a conversation as an application would (see the module's docstring)."""

    def __init__(
        self,
        model: Target,
        *,
        system_prompt: str,
        documents: Sequence[Document] = (),
        tools: Sequence[str] = (),
        world: FakeWorld | None = None,
        max_tool_rounds: int = 4,
        top_k: int = 2,
    ) -> None:
        self.model = model
        self.system_prompt = system_prompt
        self.documents = tuple(documents)
        self.tools = tuple(tools)
        self.world = world or FakeWorld()
        self.max_tool_rounds = max_tool_rounds
        self.top_k = top_k

    def opening(self, messages: Sequence[Message]) -> list[Message]:
        """The system message: the system prompt, then the retrieved documents.

        A system prompt sent with the conversation wins over the application's own.
        """
        system = next((m.content for m in messages if m.role == "system"), self.system_prompt)
        query = next((m.content for m in reversed(messages) if m.role == "user"), "")
        found = [*planted_documents(), *retrieve(self.documents, query, self.top_k)]
        return [Message("system", system + context_block(found))]

    async def respond(self, messages: Sequence[Message], params: dict[str, Any]) -> Reply:
        """Run the conversation to a text answer, running the tools the model asks for.

        The last round offers no tools, so the model has to answer in text. A failed model
        call raises as it would from the model itself (the attempt is an ``error``).
        """
        wire = [*self.opening(messages), *(m for m in messages if m.role != "system")]
        calls: list[ToolCall] = []
        texts: list[str] = []  # every round's text: one written beside a tool call counts too
        prompt_tokens = completion_tokens = 0
        started = time.perf_counter()
        for round_number in range(self.max_tool_rounds + 1):
            offer = self.tools and round_number < self.max_tool_rounds
            reply = await self.model.chat(
                wire, {**params, "tools": openai_tools(self.tools)} if offer else params
            )
            prompt_tokens += reply.usage.prompt_tokens
            completion_tokens += reply.usage.completion_tokens
            if reply.text:
                texts.append(reply.text)
            if not reply.tool_calls or not offer:
                # calls asked for when no more tools were offered are recorded, never run
                calls += [dataclasses.replace(c, result=None) for c in reply.tool_calls]
                return Reply(
                    text="\n\n".join(texts),
                    usage=Usage(prompt_tokens, completion_tokens),
                    latency_s=time.perf_counter() - started,
                    finish_reason=reply.finish_reason,
                    model=reply.model,
                    tool_calls=tuple(calls),
                )
            asked = [
                dataclasses.replace(c, id=c.id or f"call_{round_number}_{i}")
                for i, c in enumerate(reply.tool_calls)
            ]
            wire.append(Message("assistant", reply.text, tool_calls=tuple(asked)))
            for call in asked:
                ran = dataclasses.replace(call, result=self.world.run(call))
                calls.append(ran)
                wire.append(Message("tool", ran.result or "", tool_call_id=call.id))
        raise AssertionError("unreachable: the last round offers no tools")
