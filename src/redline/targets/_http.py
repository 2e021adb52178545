"""One shared aiohttp session per event loop, with connection pooling.

The HTTP targets share it: each registers as a user on its first call, and its ``aclose()``
releases it; the last user to release it closes the session.

aiohttp is the hot-path client: measured on a 2-core machine against a 20 ms loopback server at
64 concurrent requests it sustained 1,800-2,600 req/s where httpx pinned a core at ~170 req/s.
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

import aiohttp

from redline.errors import ConfigError, PermanentCallError, TransientCallError

_sessions: dict[int, aiohttp.ClientSession] = {}
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


def shared_session(user: object | None = None) -> aiohttp.ClientSession:
    """Return the pooled session of the running loop, creating it on first use.

    ``user`` (a target) is registered as using it until it calls :func:`release_session`.
    """
    loop = asyncio.get_running_loop()
    session = _sessions.get(id(loop))
    if session is None or session.closed:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300)
        session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(None))
        _sessions[id(loop)] = session
    if user is not None:
        _users.setdefault(id(loop), weakref.WeakSet()).add(user)
    return session


async def release_session(user: object) -> None:
    """``user`` is done with the running loop's session; once no open user is left, close it.

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
    """Close the running loop's session, whoever still uses it."""
    loop_id = id(asyncio.get_running_loop())
    _users.pop(loop_id, None)
    session = _sessions.pop(loop_id, None)
    if session is not None and not session.closed:
        await session.close()


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


async def _read_body(response: aiohttp.ClientResponse, url: str) -> bytes:
    """The response body, or :class:`PermanentCallError` past ``MAX_BODY_BYTES``.

    A body of announced, uncompressed length is read at once (the common case, and the fast
    one); any other is read in chunks and counted after decompression.
    """
    length = response.content_length
    if length is not None and not response.headers.get("Content-Encoding"):
        if length > MAX_BODY_BYTES:
            raise _too_large(url, response.status)
        return await response.read()
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large(url, response.status)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(url: str, status: int) -> PermanentCallError:
    return PermanentCallError(
        f"the body from {url} is larger than {MAX_BODY_BYTES:,} bytes; it was not read",
        status=status,
    )


async def post_json(
    url: str, body: Any, headers: dict[str, str], user: object | None = None
) -> tuple[int, Any]:
    """POST ``body`` as JSON and return (status, decoded JSON).

    Raises :class:`TransientCallError` on 429/5xx/connection failures (with Retry-After when
    the server sent one) and :class:`PermanentCallError` on other HTTP errors or a body that is
    not JSON or larger than ``MAX_BODY_BYTES``. Error messages quote the start of the body,
    with the sent header values (credentials) taken out. ``user`` (the calling target) is
    registered as a user of the shared session (see :func:`release_session`).
    """
    session = shared_session(user)
    try:
        async with session.post(url, json=body, headers=headers or None) as response:
            status = response.status
            raw = await _read_body(response, url)
            if status >= 400:
                snippet = _snippet(raw, 200, headers)
                message = f"HTTP {status} from {url}: {snippet}"
                if status in TRANSIENT_STATUSES:
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    raise TransientCallError(message, status=status, retry_after=retry_after)
                raise PermanentCallError(message, status=status)
    except aiohttp.ClientError as exc:
        raise TransientCallError(f"connection to {url} failed: {exc}") from exc
    try:
        return status, json.loads(raw)
    except ValueError as exc:
        snippet = _snippet(raw, 120, headers)
        raise PermanentCallError(
            f"malformed JSON from {url}: {exc} (body starts {snippet!r})", status=status
        ) from exc
