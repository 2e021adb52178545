"""Target adapters: OpenAI-compatible HTTP, generic HTTP apps, Python callables, local GGUF."""

from __future__ import annotations

from typing import Any

from redline import registry
from redline.targets.base import Target, TargetOptions, close_target, describe_target

__all__ = [
    "Target",
    "TargetOptions",
    "build_target",
    "close_target",
    "describe_target",
    "option_model",
]


def option_model(type_name: str) -> type[TargetOptions]:
    """Return the options model of the target registered as ``type_name``."""
    return registry.targets.get(type_name).Options


def build_target(options: dict[str, Any] | TargetOptions) -> Target:
    """Build a target from its spec or validated options (see :func:`redline.registry.build`)."""
    target: Target = registry.build("target", options).obj
    return target
