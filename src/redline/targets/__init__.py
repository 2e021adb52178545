"""Target adapters: OpenAI-compatible HTTP, generic HTTP apps, Python callables, local GGUF."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from redline import registry
from redline.errors import PluginError
from redline.targets.base import Target, TargetOptions, close_target

__all__ = ["Target", "TargetOptions", "build_target", "close_target", "option_model"]


def option_model(type_name: str) -> type[TargetOptions]:
    """Return the options model of the target registered as ``type_name``."""
    return registry.targets.get(type_name).Options


def build_target(options: dict[str, Any] | TargetOptions) -> Target:
    """Instantiate a target from its validated options (or a raw mapping)."""
    if isinstance(options, TargetOptions):
        cls = registry.targets.get(options.type)
        return cls(options)
    type_name = options.get("type")
    if not type_name:
        raise PluginError("target needs a 'type' (for example: openai, http, python, local)")
    cls = registry.targets.get(type_name)
    try:
        validated = cls.Options.model_validate(options)
    except ValidationError as exc:
        raise PluginError(f"target options: {exc}") from exc
    return cls(validated)
