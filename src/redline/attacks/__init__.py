"""Attacks: from sending a behaviour as it is to composed templates and converters."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from redline import registry
from redline.attacks.base import Attack, AttackContext, AttackOptions, StaticAttack, attack_key
from redline.errors import PluginError

__all__ = [
    "Attack",
    "AttackContext",
    "AttackOptions",
    "StaticAttack",
    "attack_key",
    "build_attack",
]

AttackSpec = str | dict[str, Any]


def build_attack(spec: AttackSpec) -> Attack:
    """Build an attack from its config form.

    ``"direct"`` or ``{"name": "template", "style": "fiction"}``; an ``over`` key holds the spec
    of the attack beneath (``{"name": "base64", "over": {"name": "template"}}``).
    """
    if isinstance(spec, str):
        spec = {"name": spec}
    spec = dict(spec)
    name = spec.pop("name", None)
    if not isinstance(name, str):
        raise PluginError(f"attack needs a 'name' (got {spec!r})")
    over_spec = spec.pop("over", None)
    cls = registry.attacks.get(name)
    try:
        options = cls.Options.model_validate(spec)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or name}: {e['msg']}" for e in exc.errors()
        )
        raise PluginError(f"attack {name!r}: {problems}") from exc
    if over_spec is None:
        return cls(options)
    inner = build_attack(over_spec)
    composes = issubclass(cls, StaticAttack) or getattr(cls, "composes_over", False)
    if not isinstance(inner, StaticAttack) or not composes:
        raise PluginError(f"attack {name!r} cannot be composed over {attack_key(inner)!r}")
    return cls(options, over=inner)
