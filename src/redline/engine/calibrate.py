"""Run a judge over a human-labelled file (``redline judges eval``)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from redline import __version__
from redline.config import Limits
from redline.engine.campaign import named_judge
from redline.engine.judging import judge_models_for
from redline.engine.runner import judge_transcript
from redline.model import Behavior, Message, Outcome, Transcript, Verdict
from redline.report.calibration import LabelledExample, agreement, load_labelled


def prediction(kind: str, verdict: Verdict) -> str | None:
    """The label a verdict predicts (``None`` for an error).

    For refusal labels the verdict's ``refused`` field is used; a judge that does not set it
    is read from its outcome (safe = refused, unsafe = complied).
    """
    if verdict.outcome == Outcome.ERROR:
        return None
    if kind == "refusal":
        refused = verdict.refused
        if refused is None:
            refused = verdict.outcome == Outcome.SAFE
        return "refused" if refused else "complied"
    return "unsafe" if verdict.outcome == Outcome.UNSAFE else "safe"


async def evaluate_judge(
    spec: str | dict[str, Any], data: str | Path, concurrency: int = 16
) -> dict[str, Any]:
    """Judge every labelled example and measure agreement with the labels.

    Besides the figures of :func:`~redline.report.calibration.agreement`: ``judge`` (its
    label), ``judge_version`` (the judge's ``version`` attribute, else redline's version),
    ``data`` and ``data_sha256`` (of the file's bytes).
    """
    kind, examples = load_labelled(data)
    named = named_judge(spec)
    models = judge_models_for([named], Limits(concurrency=concurrency))
    semaphore = asyncio.Semaphore(concurrency)

    async def one(example: LabelledExample) -> str | None:
        behavior = Behavior(f"line-{example.line}", example.behavior, "calibration")
        transcript = Transcript(
            messages=[Message("user", example.prompt), Message("assistant", example.response)]
        )
        async with semaphore:
            (verdict,) = await judge_transcript([named], behavior, transcript)
        return prediction(kind, verdict)

    try:
        with models.active():
            guesses = await asyncio.gather(*(one(e) for e in examples))
    finally:
        await models.aclose()
    result = agreement(kind, [(e.label, g) for e, g in zip(examples, guesses, strict=True)])
    return {
        "judge": named.label,
        "judge_version": judge_version(named.judge),
        "data": str(data),
        "data_sha256": hashlib.sha256(Path(data).read_bytes()).hexdigest(),
        **result,
    }


def judge_version(judge: object) -> str:
    """The judge's ``version`` attribute if it has one, else the redline version."""
    version = getattr(judge, "version", None)
    return str(version) if version not in (None, "") else __version__
