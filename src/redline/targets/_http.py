"""The HTTP targets' connections: one keep-alive pool per event loop, shared.

The HTTP targets share it: each registers as a user on its first call, and its ``aclose()``
releases it; the last user to release it closes the pool. The client itself is
:mod:`redline.targets._h1` (HTTP/1.1 on httptools' parser), chosen by measurement: aiohttp
spent 2.4 times its CPU per request (``benchmarks/throughput.py``), and httpx, measured on a
2-core machine against a 20 ms loopback server at 64 concurrent requests, pinned a core at
~170 req/s where aiohttp sustained 1,800-2,600.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import re
import time
import weakref
from typing import Any

import orjson

from redline.errors import ConfigError, PermanentCallError, TransientCallError
from redline.targets._h1 import BodyTooLarge, Pool, endpoint, header_lines

_sessions: dict[int, Pool] = {}
_users: dict[int, weakref.WeakSet[Any]] = {}
"""Per event loop: the open targets that use its session (a collected target drops out)."""

TRANSIENT_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
MAX_BODY_BYTES = 64 * 2**20
"""A larger response body is not read (the call fails saying so): a target cannot exhaust
memory. Replies are cut much earlier, at ``limits.max_reply_chars``, by the engine."""
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(value: str) -> str:
    """Replace ``${NAME}`` with the environment variable's value (secrets stay out of configs)."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"environment variable {name} (used in a header) is not set")
        return os.environ[name]

    return ENV_REF.sub(lookup, value)


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """Header values safe to store: ``${NAME}`` references kept, literal values redacted."""
    return {k: v if ENV_REF.fullmatch(v.strip()) else "<redacted>" for k, v in headers.items()}


def shared_session(user: object | None = None) -> Pool:
    """Return the connection pool of the running loop, creating it on first use.

    ``user`` (a target) is registered as using it until it calls :func:`release_session`.
    """
    loop = asyncio.get_running_loop()
    pool = _sessions.get(id(loop))
    if pool is None or pool.closed:
        pool = _sessions[id(loop)] = Pool(MAX_BODY_BYTES)
    if user is not None:
        users = _users.get(id(loop))
        if users is None:
            users = _users[id(loop)] = weakref.WeakSet()
        users.add(user)
    return pool


async def release_session(user: object) -> None:
    """``user`` is done with the running loop's pool; once no open user is left, close it.

    The HTTP targets' ``aclose()``: the engine closes every target it built when a run,
    a re-judging or a calibration ends, and the last one closes the session.
    """
    users = _users.get(id(asyncio.get_running_loop()))
    if users is not None:
        users.discard(user)
        if len(users):
            return
    await close_shared_session()


async def close_shared_session() -> None:
    """Close the running loop's connection pool, whoever still uses it."""
    loop_id = id(asyncio.get_running_loop())
    _users.pop(loop_id, None)
    pool = _sessions.pop(loop_id, None)
    if pool is not None:
        pool.close()


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _snippet(raw: bytes, size: int, headers: dict[str, str]) -> str:
    """The start of a body for an error message, without the values of the headers we sent.

    The store redacts every configured secret from what it writes; this runs before the cut,
    so that a key echoed by the server near the cut cannot survive as a fragment no full-value
    match would find.
    """
    text = raw[: size + 4096].decode("utf-8", "replace")
    values = set(headers.values())
    values |= {v.split(" ", 1)[1] for v in values if " " in v.strip()}  # Bearer KEY: KEY too
    for value in sorted(values, key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, "<redacted>")
    return text[:size]


def _too_large(url: str, status: int) -> PermanentCallError:
    return PermanentCallError(
        f"the body from {url} is larger than {MAX_BODY_BYTES:,} bytes; it was not read",
        status=status,
    )


def encode_json(body: Any) -> bytes:
    """``body`` as JSON (orjson: a fifth of the standard library's time on a chat request).

    What orjson refuses (a lone surrogate in a prompt, an integer past 64 bits) is encoded by
    the standard library, surrogates as ASCII escapes.
    """
    try:
        return orjson.dumps(body)
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(body).encode()


def decode_json(raw: bytes) -> Any:
    """A JSON body, decoded by orjson; ``ValueError`` when it is not JSON.

    What orjson refuses but JSON allows (the escape of a lone surrogate, ``NaN``) is decoded by
    the standard library.
    """
    try:
        return orjson.loads(raw)
    except ValueError:  # orjson.JSONDecodeError
        return json.loads(raw)


async def post_json(
    url: str, body: Any, headers: dict[str, str], user: object | None = None
) -> tuple[int, Any]:
    """POST ``body`` as JSON and return (status, decoded JSON).

    Raises :class:`TransientCallError` on 429/5xx/connection failures (with Retry-After when
    the server sent one) and :class:`PermanentCallError` on other HTTP errors, a redirect, or
    a body that is not JSON or larger than ``MAX_BODY_BYTES``. Error messages quote the start
    of the body, with the sent header values (credentials) taken out. ``user`` (the calling
    target) is registered as a user of the shared pool (see :func:`release_session`).
    """
    pool = shared_session(user)
    try:
        where = endpoint(url)
        extra = header_lines(headers, where) if headers else b""
    except ValueError as exc:
        raise PermanentCallError(f"cannot send to {url}: {exc}") from exc
    try:
        status, response_headers, raw = await pool.post(where, extra, encode_json(body))
    except BodyTooLarge as exc:
        raise _too_large(url, exc.status) from None
    except OSError as exc:
        raise TransientCallError(f"connection to {url} failed: {exc}") from exc
    if status >= 400:
        snippet = _snippet(raw, 200, headers)
        message = f"HTTP {status} from {url}: {snippet}"
        if status in TRANSIENT_STATUSES:
            retry_after = parse_retry_after(response_headers.get("retry-after"))
            raise TransientCallError(message, status=status, retry_after=retry_after)
        raise PermanentCallError(message, status=status)
    if 300 <= status < 400:
        location = response_headers.get("location", "nowhere")
        raise PermanentCallError(
            f"HTTP {status} from {url}: redirected to {location} (redirects are not followed: "
            "configure the final URL)",
            status=status,
        )
    try:
        return status, decode_json(raw)
    except ValueError as exc:
        snippet = _snippet(raw, 120, headers)
        raise PermanentCallError(
            f"malformed JSON from {url}: {exc} (body starts {snippet!r})", status=status
        ) from exc
