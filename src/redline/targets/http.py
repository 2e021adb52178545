"""A generic JSON HTTP application: test an LLM app, not just a model.

The request body is a JSON template whose strings may use Jinja2 placeholders: ``{{ prompt }}``
(the last user message), ``{{ system }}``, ``{{ messages }}`` / ``{{ history }}`` (lists of
``{"role", "content"}``) and ``{{ documents }}`` (the documents an application scenario plants
for this attempt: a list of ``{"id", "title", "text", "source"}``, empty for plain behaviours);
a string that is exactly one placeholder is replaced by the value itself, so lists stay lists.
The reply text is read with a JMESPath expression (``response_path``); the tools the
application ran, when it reports them, with ``tool_calls_path`` (a list of ``{"name",
"arguments", "result"}``).
Header values may name environment variables as ``${NAME}``; their values are read at run time
and never stored.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

import jinja2
import jinja2.sandbox
import jmespath
import jmespath.exceptions
from pydantic import field_validator

from redline.apps.scenario import planted_documents
from redline.errors import ConfigError, PermanentCallError
from redline.model import Message, Reply, ToolCall, Usage, tool_calls_from
from redline.targets._http import expand_env, post_json, redact_headers, release_session
from redline.targets.base import TargetOptions

_WHOLE_PLACEHOLDER = re.compile(r"^\{\{\s*(\w+)\s*\}\}$")


class HTTPOptions(TargetOptions):
    """Options of the ``http`` target."""

    url: str
    body: Any = {"prompt": "{{ prompt }}"}
    response_path: str = "response"
    prompt_tokens_path: str | None = None
    completion_tokens_path: str | None = None
    tool_calls_path: str | None = None
    headers: dict[str, str] = {}

    @field_validator(
        "response_path", "prompt_tokens_path", "completion_tokens_path", "tool_calls_path"
    )
    @classmethod
    def _valid_jmespath(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                jmespath.compile(value)
            except jmespath.exceptions.ParseError as exc:
                raise ValueError(f"not a valid JMESPath expression: {value!r}") from exc
        return value


class HTTPTarget:
    """POST a templated JSON body to an application and read the reply from its JSON."""

    Options = HTTPOptions

    def __init__(self, options: HTTPOptions) -> None:
        self.options = options
        self.headers: dict[str, str] = {}
        self.headers.update({k: expand_env(v) for k, v in options.headers.items()})
        self._env = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined)
        self._response = jmespath.compile(options.response_path)
        self._prompt_tokens = (
            jmespath.compile(options.prompt_tokens_path) if options.prompt_tokens_path else None
        )
        self._completion_tokens = (
            jmespath.compile(options.completion_tokens_path)
            if options.completion_tokens_path
            else None
        )
        self._tool_calls = (
            jmespath.compile(options.tool_calls_path) if options.tool_calls_path else None
        )
        self._templates: dict[str, jinja2.Template] = {}

    def _render(self, node: Any, variables: dict[str, Any]) -> Any:
        if isinstance(node, dict):
            return {key: self._render(value, variables) for key, value in node.items()}
        if isinstance(node, list):
            return [self._render(value, variables) for value in node]
        if isinstance(node, str):
            whole = _WHOLE_PLACEHOLDER.match(node)
            if whole and whole.group(1) in variables:
                return variables[whole.group(1)]
            template = self._templates.get(node)
            if template is None:
                template = self._templates[node] = self._env.from_string(node)
            return template.render(variables)
        return node

    def build_body(self, messages: Sequence[Message]) -> Any:
        """Render the body template for ``messages``."""
        history = [m.to_dict() for m in messages]
        users = [m.content for m in messages if m.role == "user"]
        systems = [m.content for m in messages if m.role == "system"]
        variables = {
            "prompt": users[-1] if users else "",
            "system": systems[0] if systems else "",
            "messages": history,
            "history": history[:-1],
            "documents": [d.model_dump() for d in planted_documents()],
        }
        try:
            return self._render(self.options.body, variables)
        except jinja2.TemplateError as exc:
            raise ConfigError(f"http target body template: {exc}") from exc

    async def chat(self, messages: Sequence[Message], params: dict[str, Any]) -> Reply:
        """Send one request to the application."""
        started = time.perf_counter()
        _, data = await post_json(
            self.options.url, self.build_body(messages), self.headers, user=self
        )
        text = self._response.search(data)
        if not isinstance(text, str) or not text.strip():
            raise PermanentCallError(
                f"no text at response_path {self.options.response_path!r} in reply from "
                f"{self.options.url}"
            )
        usage = Usage(
            prompt_tokens=int(self._prompt_tokens.search(data) or 0) if self._prompt_tokens else 0,
            completion_tokens=(
                int(self._completion_tokens.search(data) or 0) if self._completion_tokens else 0
            ),
        )
        return Reply(
            text=text,
            usage=usage,
            latency_s=time.perf_counter() - started,
            tool_calls=self._read_tool_calls(data),
        )

    def _read_tool_calls(self, data: Any) -> tuple[ToolCall, ...]:
        """The tool calls at ``tool_calls_path`` (none when it is not set or finds nothing)."""
        if self._tool_calls is None:
            return ()
        found = self._tool_calls.search(data)
        if found is None:
            return ()
        where = f"tool_calls_path {self.options.tool_calls_path!r} in reply from {self.options.url}"
        try:
            return tool_calls_from(found)
        except ValueError as exc:
            raise PermanentCallError(f"{where}: {exc}") from None

    async def aclose(self) -> None:
        """Release the shared HTTP session (the last target to release it closes it)."""
        await release_session(self)

    def describe(self) -> dict[str, Any]:
        """Options without header values (they may hold secrets)."""
        return self.options.model_dump() | {"headers": redact_headers(self.options.headers)}
