"""Any OpenAI-compatible ``/v1/chat/completions`` endpoint.

Works with OpenAI, vLLM, Ollama, llama.cpp's server, LiteLLM and redline's own test server.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from redline.errors import ConfigError, PermanentCallError
from redline.model import Message, Reply, ToolCall, Usage, parse_arguments
from redline.targets._http import expand_env, post_json, redact_headers, release_session
from redline.targets.base import TargetOptions


class OpenAIOptions(TargetOptions):
    """Options of the ``openai`` target."""

    base_url: str
    model: str
    api_key_env: str | None = None
    """Name of the environment variable holding the API key (never the key itself)."""
    headers: dict[str, str] = {}


def read_secret(env_name: str | None) -> str | None:
    """Read a secret from the environment variable named in the config."""
    if env_name is None:
        return None
    value = os.environ.get(env_name)
    if not value:
        raise ConfigError(f"environment variable {env_name} (named by api_key_env) is not set")
    return value


def parse_tool_calls(message: Any, where: str) -> tuple[ToolCall, ...]:
    """The ``tool_calls`` of a chat-completion message (OpenAI form), arguments decoded."""
    raw = message.get("tool_calls") if isinstance(message, dict) else None
    if not raw:
        return ()
    if not isinstance(raw, list):
        raise PermanentCallError(f"{where}: tool_calls is not a list")
    calls = []
    for index, item in enumerate(raw):
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise PermanentCallError(f"{where}: tool_calls[{index}] has no function name")
        call_id = item.get("id")
        calls.append(
            ToolCall(
                name=function["name"],
                arguments=parse_arguments(function.get("arguments")),
                id=str(call_id) if call_id is not None else None,
            )
        )
    return tuple(calls)


def parse_chat_completion(
    data: Any, url: str
) -> tuple[str, Usage, str | None, str | None, tuple[ToolCall, ...]]:
    """Pull text, usage, finish reason, model and tool calls out of a chat-completion body.

    Content may be empty (or null) only when the model asked for tools or a content filter
    stopped it.
    """
    try:
        choice = data["choices"][0]
        message = choice["message"]
        content = message.get("content")
        finish_reason = choice.get("finish_reason")
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise PermanentCallError(f"reply from {url} has no choices[0].message") from exc
    tool_calls = parse_tool_calls(message, f"reply from {url}")
    if content is None and tool_calls:
        content = ""
    if not isinstance(content, str) or (
        not content.strip() and finish_reason != "content_filter" and not tool_calls
    ):
        raise PermanentCallError(f"empty content in reply from {url}")
    usage_data = data.get("usage") or {}
    usage = Usage(
        prompt_tokens=int(usage_data.get("prompt_tokens") or 0),
        completion_tokens=int(usage_data.get("completion_tokens") or 0),
    )
    return content, usage, finish_reason, data.get("model"), tool_calls


class OpenAITarget:
    """Chat with an OpenAI-compatible HTTP endpoint over the shared keep-alive connections."""

    Options = OpenAIOptions

    def __init__(self, options: OpenAIOptions) -> None:
        self.options = options
        self.url = options.base_url.rstrip("/") + "/chat/completions"
        self.headers: dict[str, str] = {}
        self.headers.update({k: expand_env(v) for k, v in options.headers.items()})
        key = read_secret(options.api_key_env)
        if key:
            self.headers["Authorization"] = f"Bearer {key}"

    async def chat(self, messages: Sequence[Message], params: dict[str, Any]) -> Reply:
        """Send one chat-completion request."""
        body = {"model": self.options.model, "messages": [m.to_dict() for m in messages]}
        body.update(self.options.params)
        body.update(params)
        started = time.perf_counter()
        _, data = await post_json(self.url, body, self.headers, user=self)
        text, usage, finish_reason, model, tool_calls = parse_chat_completion(data, self.url)
        return Reply(
            text=text,
            usage=usage,
            latency_s=time.perf_counter() - started,
            finish_reason=finish_reason,
            model=model,
            tool_calls=tool_calls,
        )

    async def aclose(self) -> None:
        """Release the shared HTTP session (the last target to release it closes it)."""
        await release_session(self)

    def describe(self) -> dict[str, Any]:
        """Options without secrets (the env var's name is kept, not its value)."""
        return self.options.model_dump() | {"headers": redact_headers(self.options.headers)}
