"""The playground: red-team the campaign's target by hand, with the judges reading every reply.

The page (``GET /playground``) holds the conversation; the API does the work:

- ``POST /api/playground/transform`` ``{attack, options, text}`` -> ``{text}``: apply a
  converter or a template to the draft (many-shot also returns its fabricated ``messages``).
- ``POST /api/playground/send`` ``{messages, system?, goal?, benign?, category?}`` -> the
  target's reply, latency, tokens, its requests and every judge's verdict; ``502`` with
  ``error`` (and ``error`` verdicts) when the target failed.
- ``POST /api/playground/save-attempt`` (same fields, plus ``calls`` and ``error``) -> the
  ``manual`` run and attempt it was stored as.
- ``POST /api/playground/save-behavior`` ``{goal, category, benign}`` -> the behaviour row
  appended to the behaviours file.

Calls go through the same :class:`~redline.engine.gate.CallGate` as scans (see
:mod:`redline.web.playground_session`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from redline.behaviors.taxonomy import CATEGORIES
from redline.config import Campaign
from redline.model import Message
from redline.targets.base import target_name
from redline.web.playground_session import (
    Exchange,
    Playground,
    PlaygroundError,
    attack_catalogue,
    call_records,
)
from redline.web.templating import page


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageIn(_Body):
    """One turn of the conversation."""

    role: Literal["user", "assistant"]
    content: str


class ExchangeIn(_Body):
    """The conversation and what it is judged against."""

    messages: list[MessageIn] = Field(min_length=1)
    system: str | None = None
    goal: str | None = None
    benign: bool = False
    category: str | None = None

    def exchange(self, default_system: str | None) -> Exchange:
        """As the playground takes it.

        No ``system`` key means ``default_system`` (the campaign's); an empty one means none.
        """
        system = self.system if self.system is not None else default_system
        return Exchange(
            messages=[Message(m.role, m.content) for m in self.messages],
            system=system or None,
            goal=self.goal,
            benign=self.benign,
            category=self.category,
        )


class SendIn(ExchangeIn):
    """``/send``: the last message must be the person's."""


class CallIn(_Body):
    """One target request the page made (its copy from a ``/send`` answer)."""

    started_at: float = Field(0.0, ge=0, le=1e11)
    latency_s: float = Field(0.0, ge=0, le=1e6)
    ok: bool = False
    prompt_tokens: int = Field(0, ge=0, le=10**9)
    completion_tokens: int = Field(0, ge=0, le=10**9)
    status: int | None = Field(None, ge=0, le=999)
    error: str | None = Field(None, max_length=10_000)


class SaveAttemptIn(ExchangeIn):
    """``/save-attempt``: plus the target requests made, and the last send's failure."""

    calls: list[CallIn] = Field(default_factory=list, max_length=1000)
    error: str | None = None


class TransformIn(_Body):
    """``/transform``."""

    attack: str
    options: dict[str, Any] = {}
    text: str
    seed: int | None = None


class SaveBehaviorIn(_Body):
    """``/save-behavior``."""

    goal: str
    category: str
    benign: bool = False


def default_campaign() -> Campaign:
    """The quick campaign against the embedded ``local`` model (as a bare ``redline scan``)."""
    from redline.quick import quick_campaign

    return quick_campaign({"type": "local"})


def playground(app: Starlette) -> Playground:
    """The app's playground, made on first use."""
    existing = getattr(app.state, "playground", None)
    if existing is None:
        settings = app.state.settings
        campaign = settings.campaign if settings.campaign is not None else default_campaign()
        existing = Playground(campaign, app.state.store, settings.behaviors_file)
        app.state.playground = existing
    return existing


def error(message: str, status: int = 400, **extra: Any) -> JSONResponse:
    """``{"error": message}`` with ``status``."""
    return JSONResponse({"error": message, **extra}, status_code=status)


async def _body(request: Request, model: type[_Body]) -> Any:
    """The request's JSON body validated as ``model``; :class:`PlaygroundError` if it is not."""
    try:
        data = await request.json()
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, nested too deep
        raise PlaygroundError("the request body is not JSON (or is nested too deeply)") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise PlaygroundError(f"bad request: {problems}") from exc


def playground_page(request: Request) -> Response:
    """The page: target, judges, the conversation, the draft with its transforms."""
    settings = request.app.state.settings
    if settings.read_only:
        return page(request, "playground.html.j2", off=True)
    pg = playground(request.app)
    limits = pg.campaign.limits
    return page(
        request,
        "playground.html.j2",
        off=False,
        target=target_name(pg.target_spec.spec),
        system_prompt=pg.default_system or "",
        judges=pg.judge_names,
        limits=limits,
        catalogue=attack_catalogue(pg.campaign.attacker is not None),
        categories=CATEGORIES,
        behaviors_file=str(settings.behaviors_file),
    )


async def send(request: Request) -> Response:
    """Send the conversation to the target; judge the reply."""
    pg = playground(request.app)
    try:
        body: SendIn = await _body(request, SendIn)
        if body.messages[-1].role != "user" or not body.messages[-1].content.strip():
            raise PlaygroundError("the last message must be a non-empty user message")
        result = await pg.send(body.exchange(pg.default_system))
    except PlaygroundError as exc:
        return error(str(pg.scrub(str(exc))), exc.status)
    status = 502 if "error" in result else 200
    return JSONResponse(result, status_code=status)


async def transform(request: Request) -> Response:
    """Apply one converter or template to the draft."""
    pg = playground(request.app)
    try:
        body: TransformIn = await _body(request, TransformIn)
        result = await pg.transform(body.attack, body.options, body.text, body.seed)
    except PlaygroundError as exc:
        return error(str(pg.scrub(str(exc))), exc.status)
    return JSONResponse(result)


async def save_attempt(request: Request) -> Response:
    """Store the conversation as an attempt of the ``manual`` run, with fresh verdicts."""
    pg = playground(request.app)
    try:
        body: SaveAttemptIn = await _body(request, SaveAttemptIn)
        result = await pg.save_attempt(
            body.exchange(pg.default_system),
            call_records([call.model_dump() for call in body.calls]),
            body.error,
        )
    except PlaygroundError as exc:
        return error(str(pg.scrub(str(exc))), exc.status)
    result["url"] = str(request.app.url_path_for("overview", run_id=result["run_id"]))
    return JSONResponse(result)


async def save_behavior(request: Request) -> Response:
    """Append the goal to the behaviours file."""
    pg = playground(request.app)
    try:
        body: SaveBehaviorIn = await _body(request, SaveBehaviorIn)
        result = await pg.save_behavior(body.goal, body.category, body.benign)
    except PlaygroundError as exc:
        return error(str(pg.scrub(str(exc))), exc.status)
    return JSONResponse(result)


routes: list[BaseRoute] = [
    Route("/playground", playground_page, name="playground"),
    Route("/api/playground/send", send, methods=["POST"], name="playground_send"),
    Route("/api/playground/transform", transform, methods=["POST"], name="playground_transform"),
    Route(
        "/api/playground/save-attempt",
        save_attempt,
        methods=["POST"],
        name="playground_save_attempt",
    ),
    Route(
        "/api/playground/save-behavior",
        save_behavior,
        methods=["POST"],
        name="playground_save_behavior",
    ),
]


async def shutdown(app: Starlette) -> None:
    """Close what the playground opened: its gates, its judge models, its targets."""
    existing = getattr(app.state, "playground", None)
    if existing is not None:
        await existing.aclose()
