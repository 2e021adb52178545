"""The call gate: everything between an attack and a model's ``chat``.

Per model it holds a concurrency limit (adaptive by default: cut on 429/503 to what the server
was answering, held back when latency grows, grown back one call at a time, see
:mod:`redline.engine.adaptive`), a requests-per-minute limiter, the retry policy (exponential
backoff with jitter on transient failures, honouring Retry-After up to ``retry_after_max_s``),
a per-call timeout, the run's budget (calls, tokens, money: :mod:`redline.engine.budget`) and
the reply size cap; and it records every request, failed ones included, in the attempt's
transcript.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Sequence
from typing import Any

from aiolimiter import AsyncLimiter

from redline.engine.adaptive import OVERLOAD_STATUSES, AdaptiveLimit
from redline.engine.budget import Budget
from redline.engine.deadlines import Deadlines
from redline.errors import CallError, PermanentCallError, TransientCallError
from redline.model import CallRecord, CallRole, Message, Reply, Transcript
from redline.targets.base import Target

RETRY_AFTER_JITTER = 0.25
"""A Retry-After wait is lengthened by a random 0-25% of itself."""

TRUNCATED = "truncated_replies"
"""The transcript meta key listing the replies cut at ``max_reply_chars``."""


class CallGate:
    """Limits, retries, times and records the calls to one model."""

    def __init__(
        self,
        target: Target,
        *,
        role: CallRole = "target",
        concurrency: int = 16,
        adaptive_concurrency: bool = True,
        latency_tolerance: float | None = 2.0,
        requests_per_minute: float | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 4,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        retry_after_max_s: float = 300.0,
        max_reply_chars: int = 1_000_000,
        budget: Budget | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.target = target
        self.role: CallRole = role
        self.concurrency = AdaptiveLimit(
            concurrency, adaptive=adaptive_concurrency, latency_tolerance=latency_tolerance
        )
        self.limiter = AsyncLimiter(1, 60.0 / requests_per_minute) if requests_per_minute else None
        self.timeout_s = timeout_s
        self.deadlines = Deadlines(timeout_s)
        self.max_retries = max_retries
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.retry_after_max_s = retry_after_max_s
        self.max_reply_chars = max_reply_chars
        self.budget = budget or Budget(None)
        self.params = params or {}
        self.requests = 0
        """Requests sent so far, retries and failures included (progress displays read it)."""

    @classmethod
    def from_limits(
        cls,
        target: Target,
        limits: Any,
        *,
        role: CallRole = "target",
        budget: Budget | None = None,
        rate_limited: bool = False,
    ) -> CallGate:
        """A gate with the campaign's limits (``redline.config.Limits``) for ``role``.

        The rate limit is applied when ``rate_limited`` (the target's, or a role's own
        limits). ``budget`` is the run's, shared by every gate: each gate counts its calls'
        tokens in it under ``role``.
        """
        return cls(
            target,
            role=role,
            concurrency=limits.concurrency,
            adaptive_concurrency=limits.adaptive_concurrency,
            latency_tolerance=limits.latency_tolerance,
            requests_per_minute=limits.requests_per_minute if rate_limited else None,
            timeout_s=limits.timeout_s,
            max_retries=limits.max_retries,
            backoff_initial_s=limits.backoff_initial_s,
            backoff_max_s=limits.backoff_max_s,
            retry_after_max_s=limits.retry_after_max_s,
            max_reply_chars=limits.max_reply_chars,
            budget=budget,
        )

    @property
    def concurrency_now(self) -> int:
        """The calls allowed in flight now (below ``concurrency`` while the server pushes back)."""
        return self.concurrency.limit

    def delay(self, retry_number: int, error: TransientCallError) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based).

        The server's Retry-After when it sent one: it wins over ``backoff_max_s`` (the server
        knows when it will answer again), capped at ``retry_after_max_s``, plus up to
        ``RETRY_AFTER_JITTER`` of it (calls told the same wait must not all come back at the
        same moment). Otherwise exponential backoff ``initial * 2**(n-1)`` capped at
        ``backoff_max_s``, plus up to ``initial`` of jitter.
        """
        if error.retry_after is not None:
            wait = min(error.retry_after, self.retry_after_max_s)
            return wait * (1 + random.uniform(0, RETRY_AFTER_JITTER))
        exponential = self.backoff_initial_s * 2 ** (retry_number - 1)
        return min(exponential, self.backoff_max_s) + random.uniform(0, self.backoff_initial_s)

    async def chat(
        self, messages: Sequence[Message], params: dict[str, Any] | None, transcript: Transcript
    ) -> Reply:
        """Call the model, retrying transient failures; every request lands in ``transcript``.

        The retry loop is written out rather than delegated to a retry library: it sits on the
        hot path of every call, and the common case (success on the first try) must cost
        nothing beyond the call itself.
        """
        merged = {**self.params, **params} if params else self.params
        retry_number = 0
        while True:
            try:
                return await self._once(messages, merged, transcript)
            except TransientCallError as exc:
                retry_number += 1
                if retry_number > self.max_retries:
                    raise
                await asyncio.sleep(self.delay(retry_number, exc))

    async def _once(
        self, messages: Sequence[Message], params: dict[str, Any], transcript: Transcript
    ) -> Reply:
        budget = self.budget
        budget.check(self.role)  # spent already: refused at once, not after queueing for a slot
        slots = self.concurrency
        epoch = await slots.acquire()
        try:
            if self.limiter is not None:
                await self.limiter.acquire()
            budget.take(self.role)  # once the call can go: what finished while it waited counts
            self.requests += 1
            started_wall, started = time.time(), time.perf_counter()
            task = asyncio.current_task()
            assert task is not None
            self.deadlines.start(task)
            try:
                reply = await self.target.chat(messages, params)
            except asyncio.CancelledError:
                if not self.deadlines.claim_timeout(task):
                    raise
                error: CallError = TransientCallError(f"timed out after {self.timeout_s:g} s")
            except CallError as exc:
                error = exc
                if exc.status in OVERLOAD_STATUSES:
                    slots.overloaded(epoch)
            except Exception as exc:  # a target plugin's own bug or an unexpected library error
                error = PermanentCallError(f"target raised {type(exc).__name__}: {exc}")
            else:
                latency = time.perf_counter() - started
                slots.succeeded(latency)
                budget.charge(self.role, reply.usage)
                transcript.calls.append(
                    CallRecord(self.role, started_wall, latency, True, reply.usage)
                )
                if reply.tool_calls and self.role == "target":
                    transcript.tool_calls.extend(reply.tool_calls)
                if len(reply.text) > self.max_reply_chars:
                    reply = self._truncate(reply, transcript)
                return reply
            finally:
                self.deadlines.finish(task)
        finally:
            slots.release()
        transcript.calls.append(
            CallRecord(
                role=self.role,
                started_at=started_wall,
                latency_s=time.perf_counter() - started,
                ok=False,
                status=error.status,
                error=str(error),
            )
        )
        raise error

    def _truncate(self, reply: Reply, transcript: Transcript) -> Reply:
        """Cut a reply at ``max_reply_chars``; the attempt's meta records which call, how long."""
        transcript.meta.setdefault(TRUNCATED, []).append(
            {
                "call": len(transcript.calls) - 1,
                "role": self.role,
                "chars": len(reply.text),
                "kept": self.max_reply_chars,
            }
        )
        return dataclasses.replace(reply, text=reply.text[: self.max_reply_chars])

    async def aclose(self) -> None:
        """Stop the timeout watchdog."""
        await self.deadlines.aclose()


class BoundCaller:
    """A gate bound to one attempt's transcript: the ``ctx.target`` an attack sees."""

    __slots__ = ("gate", "transcript")

    def __init__(self, gate: CallGate, transcript: Transcript) -> None:
        self.gate = gate
        self.transcript = transcript

    async def chat(
        self, messages: Sequence[Message], params: dict[str, Any] | None = None
    ) -> Reply:
        """Call the gated model on behalf of this attempt."""
        return await self.gate.chat(messages, params, self.transcript)
