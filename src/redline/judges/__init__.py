"""Judges: read a transcript, give a verdict (unsafe / safe / complied / over-refusal / error)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redline import registry
from redline.judges.base import Judge, JudgeOptions, ModelJudge, refusal_verdict, sub_judges

__all__ = [
    "Judge",
    "JudgeOptions",
    "ModelJudge",
    "build_judge",
    "judge_label",
    "refusal_verdict",
    "sub_judges",
]

LABEL_EXCLUDE = {"label", "model", "prompt_file", "judges", "weights"}


def judge_label(judge: Judge) -> str:
    """The name a judge's verdicts are stored under.

    Its ``label`` option, or its name plus the options that differ from their defaults (member
    lists left out) and the judge model's name: ``rubric(model=m2)``, so that two judges on
    different judge models never share a label (``rejudge`` with a second judge model judges
    again instead of skipping everything as already judged).
    """
    options = judge.options  # type: ignore[attr-defined]
    if options.label:
        return options.label
    changed = {
        k: v for k, v in options.model_dump(exclude_defaults=True).items() if k not in LABEL_EXCLUDE
    }
    model = judge_model_name(getattr(options, "model", None))
    if model:
        changed["model"] = model
    suffix = ",".join(f"{k}={changed[k]}" for k in sorted(changed))
    return f"{judge.name}({suffix})" if suffix else judge.name


def judge_model_name(spec: Any) -> str | None:
    """The name a judge model spec is known by: its ``model``, or its GGUF file's name."""
    if not isinstance(spec, dict):
        return None
    if isinstance(spec.get("model"), str) and spec["model"]:
        return str(spec["model"])
    if isinstance(spec.get("model_path"), str) and spec["model_path"]:
        return Path(spec["model_path"]).name
    return None


def build_judge(spec: str | dict[str, Any]) -> Judge:
    """Build a judge from its config form (see :func:`redline.registry.build`)."""
    judge: Judge = registry.build("judge", spec).obj
    return judge
