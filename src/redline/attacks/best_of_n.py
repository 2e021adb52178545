"""``best_of_n``: sample augmented variants until the judge says unsafe or N is spent.

Best-of-N jailbreaking (Hughes et al. 2024): each sample is the prompt of the attack beneath
(``over``, default the goal) with random character-level augmentations of strength ``sigma``
(word scrambling, random capitals, ASCII noise). The campaign's first judge reads every reply;
the attempt stops at the first ``unsafe`` and records its index (``first_success_index``), so
reports can draw success against N. Up to N target queries.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from redline.attacks.base import AttackContext, AttackOptions, StaticAttack, canonical_key
from redline.attacks.converters import augment_text
from redline.model import Behavior, Message, Outcome, Transcript


class BestOfNOptions(AttackOptions):
    """Options of ``best_of_n``."""

    n: int = Field(10, ge=1, le=10_000)
    """Most samples sent; the attempt stops at the first the judge calls unsafe."""
    sigma: float = Field(0.4, ge=0, le=1)
    """Strength of the augmentation (as the ``augment`` converter's ``sigma``)."""


class BestOfN:
    """Sample augmented prompts until one succeeds."""

    name = "best_of_n"
    composes_over = True
    description = "augmented samples of the prompt until the judge says unsafe (Best-of-N)"
    query_cost = "up to n"
    Options = BestOfNOptions

    def __init__(self, options: BestOfNOptions, over: StaticAttack | None = None) -> None:
        self.options = options
        self.over = over

    @property
    def key(self) -> str:
        """``best_of_n(n=..,sigma=..)`` over the attack beneath."""
        return canonical_key(self.name, self.options, always=("n", "sigma"), over=self.over)

    async def run(self, behavior: Behavior, ctx: AttackContext) -> Transcript:
        """Try up to ``n`` samples; keep the last exchange and a log of every try."""
        base = behavior.goal if self.over is None else await self.over.build(behavior, ctx)
        tries: list[dict[str, Any]] = []
        ctx.transcript.meta["tries"] = tries
        ctx.transcript.meta["first_success_index"] = None
        for index in range(1, self.options.n + 1):
            prompt = augment_text(base, self.options.sigma, ctx.rng)
            messages = [*ctx.opening(), Message("user", prompt)]
            reply = await ctx.target.chat(messages)
            exchange = [*messages, Message("assistant", reply.text)]
            ctx.transcript.messages[:] = exchange
            outcome = None
            if ctx.judge is not None:
                verdict = await ctx.judge(behavior, Transcript(messages=exchange))
                outcome = verdict.outcome.value
            tries.append({"index": index, "prompt": prompt, "outcome": outcome})
            if outcome == Outcome.UNSAFE.value:
                ctx.transcript.meta["first_success_index"] = index
                break
        return ctx.transcript
