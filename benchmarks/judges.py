"""Throughput of the offline judges on one core: responses judged per second.

Judges the responses of the hand-written evaluation sets (training/refusal/), repeated to
``--n`` items, with the refusal pattern judge (and any other offline judge named). For
comparison it also times a plain loop that only lower-cases each response (the floor of any
text judge). Issue target for the refusal judge: at least 1,000 responses/s on one core.

Usage: python benchmarks/judges.py [--n 20000] [--judge refusal ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from redline.judges import build_judge
from redline.model import Behavior, Message, Transcript

SETS = Path(__file__).resolve().parents[1] / "training" / "refusal"


def responses(n: int) -> list[str]:
    texts = [
        json.loads(line)["response"]
        for name in ("eval_handwritten.jsonl", "eval_handwritten_2.jsonl")
        for line in (SETS / name).read_text().splitlines()
        if line.strip()
    ]
    return (texts * (n // len(texts) + 1))[:n]


async def judge_all(spec: str, texts: list[str]) -> float:
    judge = build_judge(spec)
    behavior = Behavior("b", "a goal", "c")
    transcripts = [Transcript(messages=[Message("assistant", t)]) for t in texts]
    started = time.perf_counter()
    for transcript in transcripts:
        await judge.judge(behavior, transcript)
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--judge", action="append", default=None)
    args = parser.parse_args()
    texts = responses(args.n)
    started = time.perf_counter()
    for text in texts:
        text.lower()
    floor = len(texts) / (time.perf_counter() - started)
    result = {"responses": len(texts), "lower_only_per_s": round(floor)}
    for spec in args.judge or ["refusal"]:
        result[f"{spec}_per_s"] = round(asyncio.run(judge_all(spec, texts)))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
