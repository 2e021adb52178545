"""``redline report RUN --format jsonl``: one JSON object per attempt, everything about it.

Like garak's ``report.jsonl`` or promptfoo's results: the prompt(s) sent, the reply, every
judge's verdict, the error, and every call with its tokens, in plan order, so that a run can be
read, filtered (``jq``) or loaded elsewhere without the store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from redline.report.text import redacted
from redline.store import Store, schema
from redline.store.records import StoredAttempt


def attempt_records(
    store: Store, run_id: str, *, redact_judge: str | None = None
) -> Iterator[dict[str, Any]]:
    """One record per stored attempt of ``run_id``, in plan order.

    With ``redact_judge``, the replies of the attempts that judge found unsafe are replaced by
    their hash and length (as ``--redact`` does in the HTML report).
    """
    store.get_run(run_id)  # a clear error for an unknown run
    # The store has no reader for every field of every verdict and every call yet: read its
    # tables directly (read-only), one query each, and group them by attempt.
    v, c = schema.verdicts, schema.calls
    verdict_columns = ["judge", "outcome", "refused", "partial", "score", "rationale", "raw"]
    call_columns = [
        "seq",
        "role",
        "ok",
        "status",
        "error",
        "prompt_tokens",
        "completion_tokens",
        "latency_s",
        "started_at",
    ]
    verdicts: dict[str, list[dict[str, Any]]] = {}
    calls: dict[str, list[dict[str, Any]]] = {}
    with store.engine.connect() as conn:
        query = (
            select(v.c.attempt_id, *(v.c[name] for name in verdict_columns))
            .where(v.c.run_id == run_id)
            .order_by(v.c.attempt_id, v.c.judge)
        )
        for row in conn.execute(query):
            record = dict(row._mapping)
            for key in ("refused", "partial"):
                if record[key] is not None:
                    record[key] = bool(record[key])
            verdicts.setdefault(record.pop("attempt_id"), []).append(record)
        query = (
            select(c.c.attempt_id, *(c.c[name] for name in call_columns))
            .where(c.c.run_id == run_id)
            .order_by(c.c.attempt_id, c.c.seq)
        )
        for row in conn.execute(query):
            record = dict(row._mapping)
            record["ok"] = bool(record["ok"])
            calls.setdefault(record.pop("attempt_id"), []).append(record)
    for attempt in store.iter_attempts(run_id):
        found = attempt.id
        yield _record(attempt, verdicts.get(found, []), calls.get(found, []), redact_judge)


def _record(
    attempt: StoredAttempt,
    verdicts: list[dict[str, Any]],
    calls: list[dict[str, Any]],
    redact_judge: str | None,
) -> dict[str, Any]:
    transcript = attempt.transcript
    messages = [{"role": m["role"], "content": m["content"]} for m in transcript["messages"]]
    if redact_judge is not None and any(
        verdict["judge"] == redact_judge and verdict["outcome"] == "unsafe" for verdict in verdicts
    ):
        for message in messages:
            if message["role"] == "assistant":
                message["content"] = redacted(message["content"])
    prompts = [m["content"] for m in messages if m["role"] == "user"]
    replies = [m["content"] for m in messages if m["role"] == "assistant"]
    tokens: dict[str, dict[str, Any]] = {}
    for call in calls:
        role = tokens.setdefault(
            call["role"],
            {"calls": 0, "failed": 0, "prompt_tokens": 0, "completion_tokens": 0, "latency_s": 0.0},
        )
        role["calls"] += 1
        role["failed"] += not call["ok"]
        role["prompt_tokens"] += call["prompt_tokens"]
        role["completion_tokens"] += call["completion_tokens"]
        role["latency_s"] += call["latency_s"]
    return {
        "run_id": attempt.run_id,
        "id": attempt.id,
        "idx": attempt.idx,
        "behavior_id": attempt.behavior_id,
        "goal": transcript.get("goal", ""),
        "category": attempt.category,
        "benign": bool(attempt.benign),
        "attack": attempt.attack,
        "repeat": attempt.repeat,
        "seed": attempt.seed,
        "prompt": prompts[-1] if prompts else None,
        "prompts": prompts,
        "reply": replies[-1] if replies else None,
        "messages": messages,
        "error": attempt.error,
        "verdicts": verdicts,
        "target_calls": attempt.target_calls,
        "tokens": tokens,
        "calls": calls,
        "meta": transcript.get("meta") or {},
        "tool_calls": transcript.get("tool_calls") or [],
        "started_at": attempt.started_at,
        "ended_at": attempt.ended_at,
    }


def jsonl_lines(store: Store, run_id: str, *, redact_judge: str | None = None) -> Iterator[str]:
    """The records as JSON lines (ASCII: any text a target sent, lone surrogates included)."""
    for record in attempt_records(store, run_id, redact_judge=redact_judge):
        yield json.dumps(record) + "\n"
