"""The attack protocol and the context an attack runs in.

An attack turns one behaviour into a conversation with the target. It gets an
:class:`AttackContext` with the target (already wrapped with retries, limits, budgets and call
accounting), a seeded random generator, and the transcript it must fill in. The simplest
attacks are :class:`StaticAttack` subclasses: they only rewrite the prompt, and compose (a
converter over a template over the behaviour). Register attacks under the ``redline.attacks``
entry-point group.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from redline.model import Behavior, Message, Reply, Transcript, Verdict


class AttackOptions(BaseModel):
    """Options every attack accepts; attacks subclass this with their own keys.

    An attribute docstring under an option is its description (``redline attacks show``).
    """

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class ChatCaller(Protocol):
    """A model bound to one attempt: every call is counted and recorded in its transcript."""

    async def chat(
        self, messages: Sequence[Message], params: dict[str, Any] | None = None
    ) -> Reply:
        """Send ``messages``; raises :class:`~redline.errors.CallError` once retries are spent."""
        ...


JudgeFn = Callable[[Behavior, Transcript], Awaitable[Verdict]]


class AttackerError(RuntimeError):
    """The attacker model would not write an attack (refused, or answered garbage twice).

    The attempt ends in ``error``: it says nothing about the target.
    """


@dataclass(slots=True)
class AttackContext:
    """What an attack may use while it runs one attempt.

    ``target`` is always there. ``attacker`` (the model that writes attacks) and ``scorer``
    (a 1-10 rubric judge on the scorer model) are there when the campaign names an
    ``attacker`` model; ``judge`` applies the campaign's first judge to a transcript, for
    attacks that stop at the first success.
    """

    target: ChatCaller
    seed: int
    system_prompt: str | None = None
    transcript: Transcript = field(default_factory=Transcript)
    attacker: ChatCaller | None = None
    scorer: JudgeFn | None = None
    judge: JudgeFn | None = None
    _rng: random.Random | None = None

    def require_attacker(self, attack: str) -> tuple[ChatCaller, JudgeFn]:
        """The attacker and scorer, or a clear error when the campaign has no attacker."""
        if self.attacker is None or self.scorer is None:
            raise AttackerError(
                f"attack {attack!r} needs an attacker model: add `attacker: {{type: openai, ...}}`"
                " to the campaign"
            )
        return self.attacker, self.scorer

    @property
    def rng(self) -> random.Random:
        """A generator seeded with the attempt's seed (made on first use: seeding costs)."""
        if self._rng is None:
            self._rng = random.Random(self.seed)
        return self._rng

    def opening(self) -> list[Message]:
        """The messages every conversation starts with (the target's system prompt, if any)."""
        return [Message("system", self.system_prompt)] if self.system_prompt else []


class Attack(Protocol):
    """Runs one attempt of one behaviour."""

    name: ClassVar[str]
    Options: ClassVar[type[AttackOptions]]

    @property
    def key(self) -> str:
        """A stable, readable identity (name and non-default options) used in plan ids."""
        ...

    async def run(self, behavior: Behavior, ctx: AttackContext) -> Transcript:
        """Hold the conversation, filling ``ctx.transcript``; return it."""
        ...


def format_option(value: Any) -> str:
    """An option value as a key shows it: floats in their shortest exact form (``10``, ``0.4``)."""
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)


def options_suffix(
    options: BaseModel, always: tuple[str, ...] = (), aliases: dict[str, str] | None = None
) -> str:
    """``(k=v, ...)``: every option that differs from its default, and those in ``always``.

    ``aliases`` renames options in the key (kept so that keys already stored stay the same).
    """
    changed = options.model_dump(exclude_defaults=True, exclude={"label"})
    changed.update({name: getattr(options, name) for name in always})
    if not changed:
        return ""
    shown = {(aliases or {}).get(k, k): v for k, v in changed.items()}
    return "(" + ",".join(f"{k}={format_option(shown[k])}" for k in sorted(shown)) + ")"


def canonical_key(
    name: str,
    options: BaseModel,
    *,
    always: tuple[str, ...] = (),
    aliases: dict[str, str] | None = None,
    over: Any = None,
) -> str:
    """The one way an attack's key is built: ``name(options) > key of the attack beneath``.

    Every validated option that differs from its default is in it (so two configs that behave
    differently never share attempt ids); ``always`` names options shown even at their default
    (they name the variant).
    """
    own = name + options_suffix(options, always, aliases)
    return own if over is None else f"{own} > {attack_key(over)}"


def attack_key(attack: Any) -> str:
    """An attack's key: its own ``key`` if it has one, else :func:`canonical_key` of its spec."""
    key = getattr(attack, "key", None)
    if isinstance(key, str):
        return key
    options = getattr(attack, "options", None)
    if options is None:
        return str(attack.name)
    return canonical_key(attack.name, options, over=getattr(attack, "over", None))


_UNUSED_RNG = random.Random(0)
"""Handed to deterministic rewrites, which never draw from it (seeding one per attempt costs)."""


class StaticAttack:
    """An attack that sends one rewritten prompt; subclasses implement :meth:`rewrite`.

    ``over`` is the attack whose prompt this one rewrites (``None`` means the behaviour's goal
    itself), which is how attacks compose.
    """

    name: ClassVar[str] = "static"
    Options: ClassVar[type[AttackOptions]] = AttackOptions
    key_options: ClassVar[tuple[str, ...]] = ()
    """Options shown in the key even at their default (they name the variant)."""
    randomized: ClassVar[bool] = False
    """True for rewrites that draw from the attempt's random generator."""
    needs_attacker: ClassVar[bool] = False
    """True for attacks that ask the campaign's attacker model (checked at config time)."""

    def __init__(self, options: AttackOptions, over: StaticAttack | None = None) -> None:
        self.options = options
        self.over = over

    @property
    def key(self) -> str:
        """``name(options)``, prefixed to the key of the attack beneath it."""
        return canonical_key(self.name, self.options, always=self.key_options, over=self.over)

    def rewrite(self, text: str, rng: random.Random) -> str:
        """Return the prompt that replaces ``text``."""
        return text

    async def rewrite_async(self, text: str, ctx: AttackContext) -> str:
        """Rewrite with access to the context (a rewrite may ask the attacker model)."""
        return self.rewrite(text, ctx.rng if self.randomized else _UNUSED_RNG)

    def prompt(self, behavior: Behavior, rng: random.Random) -> str:
        """The final user prompt for ``behavior``: the inner attacks' rewrites, then ours."""
        text = behavior.goal if self.over is None else self.over.prompt(behavior, rng)
        return self.rewrite(text, rng)

    async def build(self, behavior: Behavior, ctx: AttackContext) -> str:
        """Like :meth:`prompt`, for chains that may call a model while rewriting."""
        text = behavior.goal if self.over is None else await self.over.build(behavior, ctx)
        return await self.rewrite_async(text, ctx)

    def messages(self, behavior: Behavior, prompt: str, ctx: AttackContext) -> list[Message]:
        """The conversation that carries ``prompt`` (attacks may add turns before it)."""
        return [*ctx.opening(), Message("user", prompt)]

    async def run(self, behavior: Behavior, ctx: AttackContext) -> Transcript:
        """Send the rewritten prompt once and record the exchange."""
        messages = self.messages(behavior, await self.build(behavior, ctx), ctx)
        ctx.transcript.messages.extend(messages)
        reply = await ctx.target.chat(messages)
        ctx.transcript.messages.append(Message("assistant", reply.text))
        return ctx.transcript
