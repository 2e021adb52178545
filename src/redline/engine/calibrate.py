"""Run a judge over human-labelled replies (``redline judges eval``): a file, or a run's labels."""

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
from redline.errors import DataError
from redline.model import Behavior, Message, Outcome, Transcript, Verdict
from redline.report.calibration import (
    LabelledExample,
    agreement,
    load_labelled,
    parse_labelled,
    records_jsonl,
    run_labelled_records,
    stored_prediction,
)
from redline.store import Store


def prediction(kind: str, verdict: Verdict) -> str | None:
    """The label a verdict predicts (``None`` for an error).

    For refusal labels the verdict's ``refused`` field is used; a judge that does not set it
    is read from its outcome (safe or over-refusal = refused, unsafe or complied = complied).
    """
    return stored_prediction(kind, Outcome(verdict.outcome).value, verdict.refused)


async def evaluate_judge(
    spec: str | dict[str, Any], data: str | Path, concurrency: int = 16
) -> dict[str, Any]:
    """Judge every labelled example and measure agreement with the labels.

    Besides the figures of :func:`~redline.report.calibration.agreement`: ``judge`` (its
    label), ``judge_version`` (the judge's ``version`` attribute, else redline's version),
    ``data`` and ``data_sha256`` (of the file's bytes).
    """
    kind, examples = load_labelled(data)
    digest = hashlib.sha256(Path(data).read_bytes()).hexdigest()
    return await evaluate_examples(spec, kind, examples, str(data), digest, concurrency)


async def evaluate_run(
    spec: str | dict[str, Any],
    store: Store,
    run_id: str,
    kind: str = "harm",
    labeller: str | None = None,
    concurrency: int = 16,
) -> dict[str, Any]:
    """:func:`evaluate_judge` over a run's current human labels instead of a file.

    The examples are exactly what ``redline labels export RUN --kind KIND`` writes, and
    ``data_sha256`` is the SHA-256 of that file's bytes, so the two give the same figures.
    ``data`` is ``run:RUN_ID``.
    """
    store.get_run(run_id)  # a StoreError naming the run when there is none
    records = run_labelled_records(store, run_id, kind, labeller)
    who = f" by {labeller}" if labeller else ""
    if not records:
        raise DataError(
            f"run {run_id} has no {kind} labels{who} in {store.url}: label its replies in "
            f"`redline serve` (/runs/{run_id}/label) first"
        )
    text = records_jsonl(records)
    found, examples = parse_labelled(enumerate(records, 1), f"run {run_id}")
    assert found == kind
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return await evaluate_examples(spec, kind, examples, f"run:{run_id}", digest, concurrency)


def example_input(example: LabelledExample) -> tuple[Behavior, Transcript]:
    """The behaviour and transcript a judge reads for one labelled example."""
    behavior = Behavior(
        f"line-{example.line}", example.behavior, example.category, benign=example.benign
    )
    pairs = example.messages or (("user", example.prompt), ("assistant", example.response))
    messages = [Message(role, content) for role, content in pairs]  # type: ignore[arg-type]
    return behavior, Transcript(messages=messages)


async def evaluate_examples(
    spec: str | dict[str, Any],
    kind: str,
    examples: list[LabelledExample],
    source: str,
    digest: str,
    concurrency: int = 16,
) -> dict[str, Any]:
    """Judge ``examples`` (labels of ``kind``) and measure agreement; see :func:`evaluate_judge`."""
    named = named_judge(spec)
    models = judge_models_for([named], Limits(concurrency=concurrency))
    semaphore = asyncio.Semaphore(concurrency)

    async def one(example: LabelledExample) -> str | None:
        behavior, transcript = example_input(example)
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
        "data": source,
        "data_sha256": digest,
        **result,
    }


def judge_version(judge: object) -> str:
    """The judge's ``version`` attribute if it has one, else the redline version."""
    version = getattr(judge, "version", None)
    return str(version) if version not in (None, "") else __version__
