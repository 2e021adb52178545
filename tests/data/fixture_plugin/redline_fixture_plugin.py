"""A third-party plugin package as tests install it: one good attack, one broken judge.

Only what the plugin contract requires is here (no ``key``, no ``description``): the attack is
a class with ``name``, ``Options`` and ``async run``.
"""

from __future__ import annotations

from redline.attacks import AttackContext, AttackOptions
from redline.model import Behavior, Message, Transcript


class ShoutOptions(AttackOptions):
    """Options of ``shout``."""

    suffix: str = "!"
    """Appended to the upper-cased goal."""


class Shout:
    """Send the goal in capitals."""

    name = "shout"
    Options = ShoutOptions

    def __init__(self, options: ShoutOptions) -> None:
        self.options = options

    async def run(self, behavior: Behavior, ctx: AttackContext) -> Transcript:
        messages = [*ctx.opening(), Message("user", behavior.goal.upper() + self.options.suffix)]
        reply = await ctx.target.chat(messages)
        ctx.transcript.messages[:] = [*messages, Message("assistant", reply.text)]
        return ctx.transcript


class NoVerdicts:
    """A judge that forgot its ``judge`` method: the registry must skip it."""

    name = "no_verdicts"
    Options = ShoutOptions
