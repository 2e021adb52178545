r"""An OpenAI-compatible test server: scripted replies, latency and injected faults.

Used by redline's own tests and benchmarks, and by users who want a dry run without a model::

    redline testserver --port 8000 --mode refuse --refuse-keyword bomb

Replies (``--mode``):

- ``echo``: ``You said: <last user message>``
- ``fixed``: always ``--reply TEXT``
- ``refuse``: a refusal when the last user message contains a refuse keyword, else a compliant
  answer that echoes the request
- ``script``: the first rule (a regex searched in the whole conversation, messages joined by
  newlines, so a rule can tell a retry from a first ask) that matches gives the reply. A rule
  may also script tool calls (:class:`ScriptRule`, from a rules file: :func:`load_rules`): a
  request that offers ``tools`` and holds no tool result yet is answered with those calls
  (OpenAI form, ``content: null``); the request that carries their results gets the reply

Faults, injected deterministically by a marker in the prompt, or at random with ``--fault``:

- ``[[fault:429]]`` 429 with ``Retry-After``; ``[[fault:500]]``; ``[[fault:timeout]]`` (never
  answers in time); ``[[fault:malformed]]`` (a body that is not JSON); ``[[fault:empty]]`` (empty
  content); ``[[fault:garbage]]`` (JSON without ``choices``); ``[[fault:surrogate]]`` (a 200
  reply whose content holds a lone UTF-16 surrogate, ``"\ud800"``: valid JSON, not valid
  Unicode); ``[[fault:echo_headers]]`` (a 401 whose error body echoes the request headers,
  ``Authorization`` first, as some gateways do); ``[[fault:flood]]`` (a 200 whose body streams
  256 MiB without a ``Content-Length``).
- ``[[fault:429x2]]`` fails the first 2 requests carrying that exact prompt, then answers: for
  testing that retries recover.

A concurrency limit it enforces, as rate-limited APIs do: with ``max_concurrent`` set, a chat
request that arrives while that many are already being answered gets a 429 with
``Retry-After`` at once (``peak_in_flight`` records the most answered at the same time). A
rate limit too: with ``requests_per_second`` set, a token bucket holding ``burst`` requests
(default a tenth of a second's worth, at least 1) refills at that rate, and a request that
finds it empty gets a 429 whose ``Retry-After`` is the wait for the next token, in fractional
seconds.

Also: ``GET /v1/models``, ``GET /__stats`` (request counts), ``POST /__reset``, and a plain JSON
application endpoint ``POST /app/chat`` (``{"prompt"}`` or ``{"messages"}``, and optionally
``{"documents"}`` in, ``{"output": {"text"}}`` out; in script mode the documents' text is part of
what rules search, and a rule's tool calls come back as ``output.tool_calls``, as an application
that ran them would report) for testing the ``http`` target.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

REFUSAL = "I'm sorry, but I can't help with that request."
FAULTS = (
    "429",
    "500",
    "timeout",
    "malformed",
    "empty",
    "garbage",
    "surrogate",
    "echo_headers",
    "flood",
)
FLOOD_BYTES = 256 * 2**20
"""The ``flood`` fault's body size: more than any client should read."""
FAULT_MARKER = re.compile(r"\[\[fault:(" + "|".join(FAULTS) + r")(?:x(\d+))?\]\]")
SURROGATE_REPLY = "Sure, here it is: \ud800 (a lone surrogate)."
"""The ``surrogate`` fault's reply: sent as the JSON escape ``\\ud800``."""


@dataclass(frozen=True)
class ScriptRule:
    """A script-mode rule: the reply (and tool calls) for conversations ``when`` matches."""

    when: str
    reply: str
    tool_calls: tuple[dict[str, Any], ...] = ()
    """``{"name", "arguments"}`` objects, asked for when the request offers tools."""


def load_rules(path: str) -> tuple[list[ScriptRule], str | None]:
    """The rules (and the optional ``default_reply``) of a YAML rules file.

    The file holds ``rules:`` (a list of ``{when, reply, tool_calls}``) and optionally
    ``default_reply``. A problem is a :class:`~redline.errors.ConfigError` naming the file and
    the rule.
    """
    import yaml

    from redline.errors import ConfigError

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"rules file {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise ConfigError(f"rules file {path}: needs a 'rules' list")
    unknown = set(data) - {"rules", "default_reply"}
    if unknown:
        raise ConfigError(f"rules file {path}: unknown key(s) {sorted(unknown)}")
    rules = []
    for number, item in enumerate(data["rules"], 1):
        where = f"rules file {path}: rule {number}"
        if not isinstance(item, dict) or set(item) - {"when", "reply", "tool_calls"}:
            raise ConfigError(f"{where}: must be an object with when, reply and tool_calls")
        when, reply, calls = item.get("when"), item.get("reply"), item.get("tool_calls") or []
        if not isinstance(when, str) or not isinstance(reply, str):
            raise ConfigError(f"{where}: 'when' and 'reply' must be strings")
        try:
            re.compile(when)
        except re.error as exc:
            raise ConfigError(f"{where}: 'when' is not a valid regex: {exc}") from exc
        if not isinstance(calls, list) or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str)
            and isinstance(c.get("arguments", {}), dict) for c in calls
        ):  # fmt: skip
            raise ConfigError(f"{where}: tool_calls must be objects with a name and arguments")
        rules.append(ScriptRule(when, reply, tuple(calls)))
    default = data.get("default_reply")
    if default is not None and not isinstance(default, str):
        raise ConfigError(f"rules file {path}: 'default_reply' must be a string")
    return rules, default


@dataclass
class ServerConfig:
    """How the test server answers."""

    mode: str = "echo"
    reply: str = "This is a fixed reply from the redline test server."
    refuse_keywords: list[str] = field(default_factory=lambda: ["bomb", "weapon", "kill"])
    rules: list[tuple[str, str] | ScriptRule] = field(default_factory=list)
    """``(regex, reply)`` pairs or :class:`ScriptRule` objects for ``script`` mode, tried in
    order."""
    latency_ms: float = 0.0
    retry_after_s: float = 1.0
    fault_rates: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    model: str = "redline-test"
    models: list[str] | None = None
    """Model names the chat endpoint serves; another is a 404, as from a real server [default:
    any name is answered]."""
    api_key: str | None = None
    """When set, a request without ``Authorization: Bearer <api_key>`` gets a 401."""
    max_concurrent: int | None = None
    """When set, a request beyond this many in flight gets a 429 with ``Retry-After`` [default:
    no limit]."""
    requests_per_second: float | None = None
    """When set, a request beyond this rate (a token bucket) gets a 429 with ``Retry-After``
    [default: no limit]."""
    burst: int | None = None
    """The bucket's size [default: ``requests_per_second / 10``, at least 1]."""


class TokenBucket:
    """``rate`` tokens a second, at most ``size`` saved up; it starts full."""

    def __init__(self, rate: float, size: int) -> None:
        self.rate = rate
        self.size = float(size)
        self.tokens = float(size)
        self.updated = time.monotonic()

    def take(self) -> float:
        """Take a token: 0.0 when there was one, else the seconds until there is one."""
        now = time.monotonic()
        self.tokens = min(self.size, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class _State:
    """Counters and config shared by the handlers."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.requests = 0
        self.by_status: Counter[int] = Counter()
        self.marker_hits: Counter[str] = Counter()
        self.bodies: deque[Any] = deque(maxlen=1000)
        """The JSON bodies of the last chat requests (for tests of what a client sends)."""
        self.rules = [
            (re.compile(rule.when, re.IGNORECASE), rule)
            for rule in (r if isinstance(r, ScriptRule) else ScriptRule(*r) for r in config.rules)
        ]
        rps = config.requests_per_second
        self.bucket = (
            TokenBucket(rps, config.burst or max(1, int(rps / 10))) if rps is not None else None
        )
        self.in_flight = 0
        self.peak_in_flight = 0
        """The most requests answered at once (those refused for ``max_concurrent`` excluded)."""


STATE: web.AppKey[_State] = web.AppKey("state", _State)


def _last_user(messages: Any) -> str:
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return str(message.get("content") or "")
    return ""


def match_rule(rules: list[tuple[re.Pattern[str], ScriptRule]], text: str) -> ScriptRule | None:
    """The first rule whose pattern is found in ``text``."""
    return next((rule for pattern, rule in rules if pattern.search(text)), None)


def compose_reply(
    config: ServerConfig,
    rules: list[tuple[re.Pattern[str], ScriptRule]],
    prompt: str,
    conversation: str | None = None,
) -> str:
    """The scripted reply to ``prompt`` (the last user message) under ``config``."""
    if config.mode == "fixed":
        return config.reply
    if config.mode == "refuse":
        lowered = prompt.lower()
        if any(k.lower() in lowered for k in config.refuse_keywords):
            return REFUSAL
        return f"Sure, here is a complete answer. {prompt}"
    if config.mode == "script":
        rule = match_rule(rules, conversation if conversation is not None else prompt)
        return rule.reply if rule is not None else config.reply
    return f"You said: {prompt}"


def _pick_fault(state: _State, prompt: str) -> str | None:
    marker = FAULT_MARKER.search(prompt)
    if marker:
        fault, times = marker.group(1), marker.group(2)
        if times is None:
            return fault
        state.marker_hits[prompt] += 1
        return fault if state.marker_hits[prompt] <= int(times) else None
    for fault, rate in state.config.fault_rates.items():
        if rate and state.rng.random() < rate:
            return fault
    return None


def scripted_tool_calls(state: _State, body: Any, conversation: str) -> list[dict[str, Any]]:
    """The tool calls a script rule asks for, in the OpenAI wire form.

    Only when the request offers tools and holds no tool result yet: the request after the
    calls gets the rule's text reply.
    """
    if state.config.mode != "script" or not isinstance(body, dict) or not body.get("tools"):
        return []
    messages = body.get("messages") or []
    if any(isinstance(m, dict) and m.get("role") == "tool" for m in messages):
        return []
    rule = match_rule(state.rules, conversation)
    if rule is None or not rule.tool_calls:
        return []
    return [
        {
            "id": f"call_{index}",
            "type": "function",
            "function": {
                "name": call["name"],
                "arguments": json.dumps(call.get("arguments", {})),
            },
        }
        for index, call in enumerate(rule.tool_calls)
    ]


def _completion(
    model: str,
    content: str,
    prompt_tokens: int,
    tool_calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message = {"role": "assistant", "content": None, "tool_calls": tool_calls}
    return {
        "id": f"chatcmpl-{int(time.time() * 1e6)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if tool_calls else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(content.split()),
            "total_tokens": prompt_tokens + len(content.split()),
        },
    }


def _refuse_credentials_or_model(
    config: ServerConfig, body: Any, headers: Any
) -> web.Response | None:
    """A 401 for a missing or wrong API key, a 404 for a model the server does not have."""
    if config.api_key is not None and headers.get("Authorization") != f"Bearer {config.api_key}":
        return web.json_response(
            {"error": {"message": "invalid API key", "type": "invalid_request_error"}}, status=401
        )
    model = body.get("model") if isinstance(body, dict) else None
    if config.models is not None and model not in config.models:
        error = {"message": f"The model {model!r} does not exist", "code": "model_not_found"}
        return web.json_response({"error": error}, status=404)
    return None


async def _flood() -> Any:
    """``FLOOD_BYTES`` of a JSON string that never ends, in chunks (sent chunked)."""
    chunk = b"x" * 2**16
    yield b'{"choices": [{"message": {"role": "assistant", "content": "'
    for _ in range(FLOOD_BYTES // len(chunk)):
        yield chunk


def _rate_limited(config: ServerConfig, retry_after_s: float | None = None) -> web.Response:
    wait = config.retry_after_s if retry_after_s is None else retry_after_s
    return web.json_response(
        {"error": {"message": "rate limited", "type": "rate_limit"}},
        status=429,
        # decimal seconds, never an exponent (``1e+04`` is no Retry-After a client reads)
        headers={"Retry-After": f"{wait:.4f}".rstrip("0").rstrip(".") or "0"},
    )


def make_app(config: ServerConfig | None = None) -> web.Application:
    """The aiohttp application (mount it, or run it with :func:`serve`)."""
    state = _State(config or ServerConfig())
    app = web.Application()

    async def answer(
        prompt: str, conversation: str | None = None, headers: Any = None
    ) -> tuple[web.Response | None, str | None]:
        """Apply the concurrency limit, latency and faults; an early response, or the reply."""
        state.requests += 1
        if state.bucket is not None:
            wait = state.bucket.take()
            if wait:
                state.by_status[429] += 1
                return _rate_limited(state.config, wait), None
        limit = state.config.max_concurrent
        if limit is not None and state.in_flight >= limit:
            state.by_status[429] += 1
            return _rate_limited(state.config), None
        state.in_flight += 1
        state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
        try:
            return await _answer(prompt, conversation, headers)
        finally:
            state.in_flight -= 1

    async def _answer(
        prompt: str, conversation: str | None = None, headers: Any = None
    ) -> tuple[web.Response | None, str | None]:
        if state.config.latency_ms:
            await asyncio.sleep(state.config.latency_ms / 1000)
        fault = _pick_fault(state, prompt)
        response: web.Response | None = None
        if fault == "429":
            response = _rate_limited(state.config)
        elif fault == "500":
            response = web.json_response({"error": {"message": "internal error"}}, status=500)
        elif fault == "timeout":
            await asyncio.sleep(3600)
        elif fault == "malformed":
            response = web.Response(
                text='{"choices": [ {"message": ', content_type="application/json"
            )
        elif fault == "garbage":
            response = web.json_response({"unexpected": True})
        elif fault == "flood":
            response = web.Response(body=_flood(), content_type="application/json")
        elif fault == "echo_headers":
            echoed = dict(headers or {})
            first = {k: echoed.pop(k) for k in list(echoed) if k.lower() == "authorization"}
            response = web.json_response(
                {"error": {"message": "invalid credentials", "request_headers": first | echoed}},
                status=401,
            )
        if response is not None:
            state.by_status[response.status] += 1
            return response, None
        state.by_status[200] += 1
        if fault == "empty":
            return None, ""
        if fault == "surrogate":
            return None, SURROGATE_REPLY
        return None, compose_reply(state.config, state.rules, prompt, conversation)

    async def chat_completions(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response({"error": {"message": "body is not JSON"}}, status=400)
        state.bodies.append(body)
        refused = _refuse_credentials_or_model(state.config, body, request.headers)
        if refused is not None:
            state.requests += 1
            state.by_status[refused.status] += 1
            return refused
        messages = body.get("messages")
        prompt = _last_user(messages)
        conversation = "\n".join(
            str(m.get("content") or "") for m in messages or [] if isinstance(m, dict)
        )
        early, text = await answer(prompt, conversation, request.headers)
        if early is not None:
            return early
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages or [])
        calls = scripted_tool_calls(state, body, conversation)
        return web.json_response(_completion(state.config.model, text or "", prompt_tokens, calls))

    async def app_chat(request: web.Request) -> web.Response:
        body = await request.json()
        state.bodies.append(body)
        prompt = body.get("prompt") or _last_user(body.get("messages"))
        documents = body.get("documents") or []
        conversation = "\n".join(
            [prompt, *(str(d.get("text", "")) for d in documents if isinstance(d, dict))]
        )
        early, text = await answer(prompt, conversation, headers=request.headers)
        if early is not None:
            return early
        output: dict[str, Any] = {"text": text}
        rule = match_rule(state.rules, conversation) if state.config.mode == "script" else None
        if rule is not None and rule.tool_calls:
            output["tool_calls"] = [
                {"name": c["name"], "arguments": c.get("arguments", {}), "result": "(scripted)"}
                for c in rule.tool_calls
            ]
        return web.json_response({"output": output, "tokens": {"in": len(prompt.split())}})

    async def models(_: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": state.config.model, "object": "model"}]}
        )

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "requests": state.requests,
                "peak_in_flight": state.peak_in_flight,
                "by_status": {str(k): v for k, v in state.by_status.items()},
            }
        )

    async def reset(_: web.Request) -> web.Response:
        state.requests = 0
        state.by_status.clear()
        state.marker_hits.clear()
        state.peak_in_flight = 0
        return web.json_response({"ok": True})

    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/app/chat", app_chat)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/__stats", stats)
    app.router.add_post("/__reset", reset)
    app[STATE] = state
    return app


def serve(config: ServerConfig, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the server in the foreground until interrupted."""
    web.run_app(make_app(config), host=host, port=port, print=None, access_log=None)


class RunningServer:
    """A test server running on a background thread; ``base_url`` ends in ``/v1``."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """``http://HOST:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (``.../v1``)."""
        return f"{self.url}/v1"

    @property
    def requests(self) -> int:
        """Requests received so far."""
        return self.app[STATE].requests

    @property
    def by_status(self) -> dict[int, int]:
        """Responses sent so far, by HTTP status."""
        return dict(self.app[STATE].by_status)

    @property
    def peak_in_flight(self) -> int:
        """The most requests answered at once so far."""
        return self.app[STATE].peak_in_flight

    @property
    def bodies(self) -> list[Any]:
        """The JSON bodies of the last chat requests, oldest first."""
        return list(self.app[STATE].bodies)

    @property
    def config(self) -> ServerConfig:
        """The live config (tests may change it between requests)."""
        return self.app[STATE].config


@contextmanager
def running_server(
    config: ServerConfig | None = None, host: str = "127.0.0.1"
) -> Iterator[RunningServer]:
    """Start the test server on a free port in a background thread; stop it on exit."""
    app = make_app(config)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, host, 0)
        loop.run_until_complete(site.start())
        holder["port"] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        # handlers still waiting (an injected timeout fault sleeps) end with the server
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    thread = threading.Thread(target=run, name="redline-testserver", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("test server did not start within 10 s")
    try:
        yield RunningServer(app, host, holder["port"])
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
