"""Budgets: what a run may spend in target calls, tokens and money, and what it has spent.

One :class:`Budget` is shared by every gate of a run (target, attacker, judge models). Before
each call a gate asks it (:meth:`Budget.take`), which raises :class:`BudgetExhausted` once a
limit is reached; after each successful call it records the call's tokens
(:meth:`Budget.charge`). Limits:

- ``max_target_calls``: calls to the target (retries included);
- ``limits.max_tokens`` / ``limits.max_cost_usd``: the whole run, every role together;
- ``attacker_limits`` / ``judge_limits`` ``max_tokens`` / ``max_cost_usd``: that role alone.

Money is estimated from the campaign's price table (``prices:``, US dollars per million input
and output tokens, matched on each model's ``model`` name). A role's price is its model's; a
role with several models (judge models, the attack loops' scorer) is charged the highest of
their prices, an upper bound that is exact when they agree; a role with a model that has no
price is not costed at all (its tokens are counted, its cost is unknown, and summaries say
so). The same rule prices the usage stored in the ``calls`` table, so that a resumed run starts
from what was spent before and the report shows the same figures as the run.

A limit is checked before a call, and a call's cost is only known after it: calls already in
flight when the limit is reached finish, so the spend may pass the limit by those calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from redline.errors import BudgetExhausted
from redline.model import Usage
from redline.targets.base import application_model

ROLES = ("target", "attacker", "judge")
"""The roles whose calls are stored and charged (the scorer's calls are ``judge`` calls)."""


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """The estimated cost of that many prompt and completion tokens."""
        return (
            prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok
        ) / 1e6


@dataclass(slots=True)
class Spend:
    """What one role (or the whole run) has used."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    """``None`` when some of the tokens were sent to a model without a price."""

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def add(self, usage: Usage, price: Price | None) -> None:
        """Count one call's tokens, and their cost when the price is known."""
        self.calls += 1
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        if price is None:
            if usage.prompt_tokens or usage.completion_tokens:
                self.cost_usd = None
        elif self.cost_usd is not None:
            self.cost_usd += price.cost(usage.prompt_tokens, usage.completion_tokens)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON (what summaries show)."""
        return {
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "tokens": self.tokens,
            "cost_usd": self.cost_usd,
        }


@dataclass(frozen=True, slots=True)
class Cap:
    """A limit in tokens, in money, or both (``None``: no limit)."""

    max_tokens: int | None = None
    max_cost_usd: float | None = None

    def reached(self, spend: Spend, whose: str) -> str | None:
        """Why ``spend`` may go no further (``whose``: "the run's", "the judge's"), or ``None``."""
        if self.max_tokens is not None and spend.tokens >= self.max_tokens:
            return f"{whose} budget of {self.max_tokens:,} tokens is spent ({spend.tokens:,} used)"
        if (
            self.max_cost_usd is not None
            and spend.cost_usd is not None
            and spend.cost_usd >= self.max_cost_usd
        ):
            return (
                f"{whose} budget of ${self.max_cost_usd:g} is spent "
                f"({usd(spend.cost_usd)} estimated)"
            )
        return None


@dataclass
class Budget:
    """Everything a run may spend, shared by the gates of its models.

    ``Budget(limit, used)`` is the plain call budget of the target (``max_target_calls``, and
    the calls stored before a resume).
    """

    limit: int | None = None
    """The most target calls (``None``: no limit)."""
    used: int = 0
    """Target calls made, those of a resumed run's earlier sessions included."""
    run_cap: Cap = field(default_factory=Cap)
    role_caps: Mapping[str, Cap] = field(default_factory=dict)
    prices: Mapping[str, Price | None] = field(default_factory=dict)
    """Each role's price (see :func:`role_prices`); a role not listed is not costed."""
    spent: dict[str, Spend] = field(default_factory=dict)
    """Per role: calls, tokens and cost so far."""
    reason: str | None = None
    """Why the budget was exhausted (the first limit reached), once it was."""

    @property
    def exhausted(self) -> bool:
        """True once the target may not be called (its call budget, or the run's cap)."""
        return self._refusal("target") is not None

    def first_refusal(self) -> str | None:
        """Why no attempt can be finished now, or ``None``.

        A budget of the target, of the run or of any role with a cap is spent: a run stops at
        any of them, so a resume must not call the target only to be refused at the judge or
        the attacker.
        """
        for role in ("target", *self.role_caps):
            refusal = self._refusal(role)
            if refusal is not None:
                return refusal
        return None

    def check(self, role: str = "target") -> None:
        """Raise BudgetExhausted (recording why) if ``role`` may not call now; counts nothing."""
        refusal = self._refusal(role)
        if refusal is not None:
            self.reason = self.reason or refusal
            raise BudgetExhausted(refusal)

    def take(self, role: str = "target") -> None:
        """Allow one call by ``role`` (a target call is counted), or raise BudgetExhausted."""
        self.check(role)
        if role == "target":
            self.used += 1

    def charge(self, role: str, usage: Usage) -> None:
        """Record a successful call's tokens (and their cost, when ``role`` has a price)."""
        spend = self.spent.get(role)
        if spend is None:
            spend = self.spent[role] = Spend()
        spend.add(usage, self.prices.get(role))

    def total(self) -> Spend:
        """Every role's spend together (its cost is ``None`` when a role's is unknown)."""
        return total_spend(self.spent.values())

    def _refusal(self, role: str) -> str | None:
        if role == "target" and self.limit is not None and self.used >= self.limit:
            return f"the budget of {self.limit:,} target calls is spent"
        if role in self.role_caps and role in self.spent:
            reason = self.role_caps[role].reached(self.spent[role], f"the {role}'s")
            if reason is not None:
                return reason
        if self.run_cap.max_tokens is None and self.run_cap.max_cost_usd is None:
            return None
        return self.run_cap.reached(self.total(), "the run's")


def budget_kind(reason: str) -> str:
    """``call budget``, ``token budget``, ``judge's cost budget``...: which one ``reason`` is."""
    role = next((r for r in ("attacker", "judge") if reason.startswith(f"the {r}'s")), None)
    if "target calls" in reason:
        kind = "call budget"
    else:
        kind = "cost budget" if "$" in reason else "token budget"
    return f"{role}'s {kind}" if role else kind


def status_note(status: str, detail: str | None) -> str | None:
    """A run's ``status_detail`` as run lists show it, under its status.

    Short for a budget's reason (:attr:`Budget.reason`): ``call budget spent``; any other
    detail as stored.
    """
    if not detail:
        return None
    return f"{budget_kind(detail)} spent" if status == "budget_exhausted" else detail


def total_spend(spends: Any) -> Spend:
    """The sum of ``spends`` (cost ``None`` when one of them is unknown)."""
    total = Spend()
    for spend in spends:
        total.calls += spend.calls
        total.prompt_tokens += spend.prompt_tokens
        total.completion_tokens += spend.completion_tokens
        if total.cost_usd is not None:
            total.cost_usd = None if spend.cost_usd is None else total.cost_usd + spend.cost_usd
    return total


def _model_specs(node: Any) -> Iterator[dict[str, Any]]:
    """Every model spec (a mapping with ``type``) under a ``model`` key inside ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "model" and isinstance(value, dict) and "type" in value:
                yield value
            yield from _model_specs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _model_specs(value)


def role_models(config: Mapping[str, Any]) -> dict[str, list[str | None]]:
    """The ``model`` name of each model a role calls, from a campaign as JSON.

    ``None`` for a model spec without a ``model`` name (a ``python`` target, say). The judge
    role holds the judge models (ensemble members included) and the attack loops' scorer (the
    ``scorer`` spec, else the attacker), which is there whenever an attacker is.
    """

    def name(spec: Mapping[str, Any]) -> str | None:
        model = spec.get("model")
        return model if isinstance(model, str) else None

    target = config.get("target") or {}
    inner = application_model(target)  # an application is priced at the model it calls
    roles: dict[str, list[str | None]] = {"target": [name(inner[0] if inner else target)]}
    attacker = config.get("attacker")
    judges = [name(spec) for spec in _model_specs(config.get("judges", []))]
    if attacker:
        roles["attacker"] = [name(attacker)]
        judges.append(name(config.get("scorer") or attacker))
    if judges:
        roles["judge"] = judges
    return roles


def role_prices(config: Mapping[str, Any]) -> dict[str, Price | None]:
    """Each role's price from the campaign's ``prices`` table (see the module's docstring).

    ``config`` is a campaign as JSON (``Campaign.model_dump(mode="json")`` or a stored run's
    config). A role is ``None`` when one of its models has no price.
    """
    table = {
        model: Price(float(p["input_per_mtok"]), float(p["output_per_mtok"]))
        for model, p in (config.get("prices") or {}).items()
    }
    out: dict[str, Price | None] = {}
    for role, models in role_models(config).items():
        prices = [table.get(model) if model is not None else None for model in models]
        if any(price is None for price in prices):
            out[role] = None
            continue
        known = [price for price in prices if price is not None]
        out[role] = Price(
            max(p.input_per_mtok for p in known), max(p.output_per_mtok for p in known)
        )
    return out


def stored_spend(
    totals: Mapping[str, Mapping[str, Any]], prices: Mapping[str, Price | None]
) -> dict[str, Spend]:
    """Per role, the spend of the calls stored (``Store.call_totals``), priced by ``prices``."""
    out = {}
    for role, row in totals.items():
        price = prices.get(role)
        prompt, completion = int(row["prompt_tokens"]), int(row["completion_tokens"])
        if price is not None:
            cost: float | None = price.cost(prompt, completion)
        else:
            cost = None if prompt or completion else 0.0
        out[role] = Spend(int(row["calls"]), prompt, completion, cost)
    return out


def spend_summary(
    totals: Mapping[str, Mapping[str, Any]], config: Mapping[str, Any]
) -> dict[str, Any]:
    """Tokens and estimated cost per role and in all, for a run's summary.

    ``{"roles": {role: Spend.as_dict()}, "total": ..., "priced": bool, "unpriced": [model
    names without a price]}``; a cost is ``None`` where a model of the role has no price.
    """
    prices = role_prices(config)
    spent = stored_spend(totals, prices)
    table = config.get("prices") or {}
    unpriced = sorted(
        {
            model or "(no model name)"
            for role, models in role_models(config).items()
            if role in spent
            for model in models
            if model is None or model not in table
        }
    )
    order = {role: i for i, role in enumerate(ROLES)}
    return {
        "roles": {
            role: spent[role].as_dict() for role in sorted(spent, key=lambda r: order.get(r, 99))
        },
        "total": total_spend(spent.values()).as_dict(),
        "priced": bool(table),
        "unpriced": unpriced,
    }


def usd(amount: float) -> str:
    """Dollars for people: cents and hundredths of a cent, or six decimals below a cent."""
    return f"${amount:.4f}" if amount >= 0.01 or amount == 0 else f"${amount:.6f}"


__all__ = [
    "ROLES",
    "Budget",
    "Cap",
    "Price",
    "Spend",
    "campaign_budget",
    "role_models",
    "role_prices",
    "spend_summary",
    "stored_spend",
    "total_spend",
    "usd",
]


def campaign_budget(
    campaign: Any, *, calls_used: int = 0, stored: Mapping[str, Mapping[str, Any]] | None = None
) -> Budget:
    """The budget of a run of ``campaign`` (a :class:`redline.config.Campaign`).

    ``calls_used`` and ``stored`` (``Store.call_totals`` of the run) are what a resumed run
    spent before: its target calls, and its tokens per role.
    """
    limits = campaign.limits
    role_caps = {
        role: Cap(own.max_tokens, own.max_cost_usd)
        for role, own in (("attacker", campaign.attacker_limits), ("judge", campaign.judge_limits))
        if own is not None
    }
    prices = role_prices(campaign.model_dump(mode="json", exclude_none=True))
    return Budget(
        limits.max_target_calls,
        calls_used,
        run_cap=Cap(limits.max_tokens, limits.max_cost_usd),
        role_caps=role_caps,
        prices=prices,
        spent=stored_spend(stored or {}, prices),
    )
