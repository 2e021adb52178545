"""Judges: read a transcript, give a verdict (unsafe / safe / complied / over-refusal / error)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from redline import registry
from redline.errors import PluginError
from redline.judges.base import Judge, JudgeOptions, refusal_verdict

__all__ = ["Judge", "JudgeOptions", "build_judge", "refusal_verdict"]


def build_judge(spec: str | dict[str, Any]) -> Judge:
    """Build a judge from its config form: ``"refusal"`` or ``{"name": ..., **options}``."""
    if isinstance(spec, str):
        spec = {"name": spec}
    spec = dict(spec)
    name = spec.pop("name", None)
    if not isinstance(name, str):
        raise PluginError(f"judge needs a 'name' (got {spec!r})")
    cls = registry.judges.get(name)
    try:
        options = cls.Options.model_validate(spec)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PluginError(f"judge {name!r}: {problems}") from exc
    return cls(options)
