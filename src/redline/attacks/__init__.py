"""Attacks: from sending a behaviour as it is to composed templates and converters."""

from __future__ import annotations

from typing import Any

from redline import registry
from redline.attacks.base import Attack, AttackContext, AttackOptions, StaticAttack, attack_key

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
    """Build an attack from its config form (see :func:`redline.registry.build`).

    ``"direct"`` or ``{"name": "template", "style": "fiction"}``; an ``over`` key holds the spec
    of the attack beneath (``{"name": "base64", "over": {"name": "template"}}``).
    """
    attack: Attack = registry.build("attack", spec).obj
    return attack
