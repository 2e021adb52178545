"""Python callables used as targets by the tests."""

from __future__ import annotations

import asyncio


def sync_bot(messages):
    last = messages[-1]["content"]
    if "bomb" in last:
        return "I cannot help with that."
    return f"Happy to help: {last}"


async def async_bot(messages, params):
    await asyncio.sleep(0)
    return {"text": f"async reply (max_tokens={params.get('max_tokens')})", "completion_tokens": 3}


def broken_bot(messages):
    return None


def crashing_bot(messages):
    raise RuntimeError("the app fell over")
