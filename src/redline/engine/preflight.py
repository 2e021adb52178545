"""Preflight: one cheap call to every model a run talks to over the network, before it starts.

A dead server, a wrong ``base_url``, an unknown model or a rejected key would otherwise show up
as hundreds of failed attempts minutes later. :func:`preflight` sends one short chat to the
target, the attacker, the scorer and every judge model (each distinct spec once, all at once)
and raises :class:`PreflightError` (exit code 2) naming each one that did not answer, with the
reason and what to check. In-process targets (``local``, ``python``) are not called: there is
nothing to reach, and a ``local`` model would be loaded only to be thrown away.

The calls use the model's own ``params`` (what the run will send), are not stored and do not
count against ``max_target_calls``. A rate limit (429) means the server is up and passes;
other transient failures are tried up to :data:`TRIES` times; a timeout (``limits.timeout_s``)
or an HTTP 4xx answer fails at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redline.errors import CallError, PermanentCallError, RedlineError, TransientCallError
from redline.model import Message
from redline.targets.base import application_model

IN_PROCESS = frozenset({"local", "python", "transformers"})
"""Target types that run in this process: nothing to reach, so no preflight call."""
PROMPT = "Reply with the single word OK."
TRIES = 3
RETRY_WAIT_S = 0.25


class PreflightError(RedlineError):
    """A model the run needs did not answer its preflight call."""


@dataclass(frozen=True)
class Model:
    """One model to check: who it is in the run, its spec, and the config key to look at."""

    role: str
    spec: dict[str, Any]
    key: str


def models_to_check(
    target: dict[str, Any],
    attacker: dict[str, Any] | None = None,
    scorer: dict[str, Any] | None = None,
    judge_models: Sequence[dict[str, Any]] = (),
) -> list[Model]:
    """The distinct network models of a run, in the order they are named.

    An application's model is checked in its place: the model inside an ``app`` target
    (``target.model``) or handed to a ``python`` application in ``target.params.model``.
    """
    candidates = [Model("target", target, "target")]
    inner = application_model(target)
    if inner is not None:
        spec, where = inner
        if where == "target.model":  # the app target is no network model of its own
            candidates = []
        candidates.append(Model("target's model", spec, where))
    if attacker is not None:
        candidates.append(Model("attacker", attacker, "attacker"))
        candidates.append(Model("scorer", scorer or attacker, "scorer" if scorer else "attacker"))
    candidates += [Model("judge model", spec, "judges[].model") for spec in judge_models]
    seen: set[str] = set()
    out = []
    for model in candidates:
        identity = json.dumps(model.spec, sort_keys=True, default=str)
        if model.spec.get("type") in IN_PROCESS or identity in seen:
            continue
        seen.add(identity)
        out.append(model)
    return out


def preflight(models: Sequence[Model], timeout_s: float, secrets: Iterable[str] = ()) -> None:
    """Call every model once; raise :class:`PreflightError` listing those that failed.

    Works from synchronous code and from inside a running event loop (the calls then run on a
    short-lived thread with a loop of its own). ``secrets`` are replaced by ``<redacted>`` in
    messages (an error body may echo the request's headers).
    """
    if not models:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        problems = asyncio.run(_check_all(models, timeout_s))
    else:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            problems = pool.submit(asyncio.run, _check_all(models, timeout_s)).result()
    if problems:
        text = "\n".join(problems)
        for secret in sorted(set(secrets), key=len, reverse=True):
            if secret:
                text = text.replace(secret, "<redacted>")
        raise PreflightError(
            f"preflight: {text}\n(nothing was run; skip this check with --no-preflight)"
        )


async def _check_all(models: Sequence[Model], timeout_s: float) -> list[str]:
    results = await asyncio.gather(*(_check(model, timeout_s) for model in models))
    return [problem for problem in results if problem is not None]


async def _check(model: Model, timeout_s: float) -> str | None:
    """None when the model answered (or is only rate limited), else the problem."""
    from redline.targets import build_target, close_target

    target = build_target(model.spec)
    last: CallError | None = None
    try:
        for attempt in range(TRIES):
            if attempt:
                await asyncio.sleep(RETRY_WAIT_S * attempt)
            try:
                await asyncio.wait_for(target.chat([Message("user", PROMPT)], {}), timeout_s)
                return None
            except TimeoutError:
                return _problem(model, f"no answer within limits.timeout_s ({timeout_s:g} s)", None)
            except TransientCallError as exc:
                if exc.status == 429:
                    return None  # it is up; the run's rate limits and retries handle 429s
                last = exc
            except PermanentCallError as exc:
                if exc.status is not None:  # an HTTP 4xx answer: asking again will not help
                    return _problem(model, str(exc), exc.status)
                last = exc  # a malformed or empty reply: maybe a fluke
            except CallError as exc:
                last = exc
    finally:
        await close_target(target)
    assert last is not None
    return _problem(model, str(last), last.status)


def _problem(model: Model, error: str, status: int | None) -> str:
    spec = model.spec
    where = ", ".join(
        str(spec[key]) for key in ("type", "base_url", "url", "model") if spec.get(key)
    )
    if status is None and "connect" in error.lower():
        hint = f"is the server running, and is {model.key}'s URL right?"
    elif status in (401, 403):
        hint = f"the credentials were refused: check {model.key}.api_key_env or its headers"
        error = f"HTTP {status}"  # the body may echo the request's headers
    elif status == 404:
        hint = f"check {model.key}'s URL (an OpenAI-compatible one usually ends in /v1)"
        if spec.get("model"):
            hint += f" and that the server has the model {spec['model']!r}"
    elif status is not None and 400 <= status < 500:
        hint = f"the server rejected the request: check {model.key}'s params"
    else:
        hint = f"check that {model.key} answers chat requests"
    return f"the {model.role} ({where}) did not answer a test call: {error}\n  {hint}"
