"""The playground's engine side: one gated target, the campaign's judges, saving what was found.

One :class:`Playground` per web app, made on the first playground request. It builds what scans
build, lazily (the embedded ``local`` model loads on its first call): the campaign's target
behind a :class:`~redline.engine.gate.CallGate` with the campaign's limits (concurrency, rate,
retries with backoff, Retry-After, timeout, and a call budget shared by the whole app process),
the campaign's judges and their gated judge models. :meth:`Playground.aclose` closes them all.

The conversation lives in the browser and is sent whole with every request, so the server keeps
no per-conversation state. Everything returned to the browser is scrubbed of the campaign's
secret values (an API key echoed in an error never reaches the page).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import secrets
import time
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import update

from redline import __version__, registry
from redline.attacks.base import AttackContext, AttackerError, StaticAttack
from redline.behaviors import load_jsonl
from redline.behaviors.taxonomy import CATEGORIES
from redline.config import Campaign
from redline.engine.campaign import named_judge, new_run_id, storable_config
from redline.engine.gate import TRUNCATED, BoundCaller, Budget, CallGate
from redline.engine.judging import JudgeModels, judge_models_for
from redline.engine.redaction import campaign_secrets
from redline.engine.runner import NamedJudge, judge_transcript
from redline.errors import BudgetExhausted, CallError, DataError, PluginError
from redline.model import (
    AttemptResult,
    Behavior,
    CallRecord,
    Message,
    PlannedAttempt,
    Transcript,
    Usage,
    Verdict,
)
from redline.store import Store, schema
from redline.store.sanitize import Sanitizer
from redline.targets import build_target, close_target, describe_target

MANUAL = "manual"
"""The name of the runs that hold saved playground conversations, and their attack key."""
UNCATEGORIZED = "manual"
"""The category judges see when the person picked none (saving requires one)."""
SKIPPED_ATTACKS = frozenset({"direct"})
"""Static attacks that do not change a prompt: not offered."""


class PlaygroundError(Exception):
    """A request the playground cannot serve; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# the attack catalogue ------------------------------------------------------------------------


def _field_kind(annotation: Any) -> tuple[str, list[Any] | None]:
    """The input an option needs: ``choice`` (with its values), ``bool``, ``int``, ``float``."""
    if typing.get_origin(annotation) is typing.Literal:
        return "choice", list(typing.get_args(annotation))
    for kind in (bool, int, float):
        if annotation is kind:
            return kind.__name__, None
    return "text", None


def _fields(cls: Any, fixed: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, info in cls.Options.model_fields.items():
        if name in fixed:
            continue
        kind, choices = _field_kind(info.annotation)
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        rows.append(
            {
                "name": name,
                "kind": kind,
                "default": default,
                "choices": choices,
                "description": " ".join((info.description or "").split()),
            }
        )
    return rows


def attack_catalogue(has_attacker: bool) -> list[dict[str, Any]]:
    """The prompt-rewriting attacks the playground offers, one entry per select option.

    Every :class:`StaticAttack` in the registry (third-party ones included) but ``direct``;
    ``template`` once per style; those that need the attacker model only when the campaign
    has one. Each entry: ``id``, ``label``, ``group``, ``attack`` (the registered name),
    ``fixed`` (options the entry sets) and ``fields`` (the other options, with defaults).
    """
    entries = []
    for name in registry.attacks.names():
        try:
            cls = registry.attacks.get(name)
        except PluginError:
            continue
        if name in SKIPPED_ATTACKS or not (isinstance(cls, type) and issubclass(cls, StaticAttack)):
            continue
        if getattr(cls, "needs_attacker", False) and not has_attacker:
            continue
        description = str(getattr(cls, "description", "") or "")
        if name == "template":
            for style in typing.get_args(cls.Options.model_fields["style"].annotation):
                fixed = {"style": style}
                entries.append(
                    {
                        "id": f"template:{style}",
                        "label": f"template: {style}",
                        "group": "Templates",
                        "attack": name,
                        "fixed": fixed,
                        "fields": _fields(cls, fixed),
                        "description": description,
                    }
                )
            continue
        group = "Many-shot" if name == "many_shot" else "Converters"
        entries.append(
            {
                "id": name,
                "label": name,
                "group": group,
                "attack": name,
                "fixed": {},
                "fields": _fields(cls, {}),
                "description": description,
            }
        )
    order = {"Converters": 0, "Templates": 1, "Many-shot": 2}
    return sorted(entries, key=lambda e: (order[e["group"]], e["label"]))


# values sent to the browser -----------------------------------------------------------------


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    """A verdict as the page shows it."""
    return {
        "judge": verdict.judge,
        "outcome": verdict.outcome.value,
        "refused": verdict.refused,
        "partial": verdict.partial,
        "score": verdict.score,
        "rationale": verdict.rationale,
    }


def call_json(call: CallRecord) -> dict[str, Any]:
    """One target request (retries are separate requests), as the page keeps it for saving."""
    return {
        "started_at": call.started_at,
        "latency_s": call.latency_s,
        "ok": call.ok,
        "status": call.status,
        "error": call.error,
        "prompt_tokens": call.usage.prompt_tokens,
        "completion_tokens": call.usage.completion_tokens,
    }


def manual_behavior_id(goal: str, category: str, benign: bool) -> str:
    """The id a playground goal gets, as an attempt's behaviour and as a saved behaviour."""
    text = f"{category}\n{goal}\n{'benign' if benign else 'harmful'}"
    return "manual-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Exchange:
    """What the person sends: the conversation, and what it is judged against."""

    messages: Sequence[Message]
    """user and assistant turns, oldest first (no system message)."""
    system: str | None = None
    goal: str | None = None
    benign: bool = False
    category: str | None = None

    def conversation(self) -> list[Message]:
        """The messages as the target gets them, the system prompt first."""
        opening = [Message("system", self.system)] if self.system else []
        return [*opening, *self.messages]

    def behavior(self) -> Behavior:
        """The behaviour judges read: the goal, else the first user message."""
        goal = (self.goal or "").strip()
        if not goal:
            goal = next((m.content for m in self.messages if m.role == "user"), "").strip()
        category = (self.category or "").strip() or UNCATEGORIZED
        return Behavior(
            id=manual_behavior_id(goal, category, self.benign),
            goal=goal,
            category=category,
            benign=self.benign,
        )


@dataclass
class Playground:
    """The playground of one web app: the campaign's target and judges, opened on first use."""

    campaign: Campaign
    store: Store
    behaviors_file: Path
    target: Any = None
    gate: CallGate | None = None
    attacker: tuple[CallGate, Any] | None = None
    judges: list[NamedJudge] = field(default_factory=list)
    models: JudgeModels | None = None
    sanitizer: Sanitizer = field(default_factory=Sanitizer)
    _opening: asyncio.Lock = field(default_factory=asyncio.Lock)
    _saving: asyncio.Lock = field(default_factory=asyncio.Lock)
    _closed: bool = False

    def __post_init__(self) -> None:
        self.sanitizer.add_secrets(campaign_secrets(self.campaign))

    # opening and closing ------------------------------------------------------------------

    @property
    def target_spec(self) -> registry.Built:
        """The target's canonical spec (no secret values), as runs store it."""
        return registry.specify("target", self.campaign.target)

    @property
    def default_system(self) -> str | None:
        """The campaign's system prompt (the target's ``system_prompt``), as scans send it."""
        value = self.campaign.target.get("system_prompt")
        return str(value) if value else None

    @property
    def judge_names(self) -> list[str]:
        """The campaign's judges by name, without building them."""
        return [s if isinstance(s, str) else str(s.get("name")) for s in self.campaign.judges]

    async def open(self) -> CallGate:
        """Build the target, its gate, the judges and their models, once."""
        async with self._opening:
            if self._closed:
                raise PlaygroundError("the playground is shutting down", 503)
            if self.gate is None:
                limits = self.campaign.limits
                try:
                    judges = [named_judge(spec) for spec in self.campaign.judges]
                    target = build_target(self.campaign.target)
                except Exception as exc:  # a config or plugin problem: say what it is
                    raise PlaygroundError(
                        f"cannot build the campaign's target or judges: {exc}", 500
                    ) from exc
                self.sanitizer.add_secrets(campaign_secrets(self.campaign, judges))
                self.judges = judges
                self.models = judge_models_for(judges, limits)
                self.target = target
                budget = Budget(limits.max_target_calls)
                self.gate = CallGate.from_limits(target, limits, budget=budget, rate_limited=True)
            return self.gate

    async def aclose(self) -> None:
        """Stop the gates, release the judge models and close the targets."""
        async with self._opening:
            self._closed = True
            if self.gate is not None:
                await self.gate.aclose()
                await close_target(self.target)
            if self.models is not None:
                await self.models.aclose()
            if self.attacker is not None:
                gate, target = self.attacker
                await gate.aclose()
                await close_target(target)

    def scrub(self, value: Any) -> Any:
        """``value`` (JSON-like) with every secret value of the campaign redacted."""
        if isinstance(value, str):
            return self.sanitizer.text(value)
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        return value

    # chatting -----------------------------------------------------------------------------

    async def judge(self, exchange: Exchange, transcript: Transcript) -> list[Verdict]:
        """Every judge's verdict on ``transcript`` (``error`` when it failed)."""
        await self.open()
        assert self.models is not None
        with self.models.active():
            return await judge_transcript(self.judges, exchange.behavior(), transcript)

    async def send(self, exchange: Exchange) -> dict[str, Any]:
        """Send the conversation through the gate, then judge the exchange.

        The answer has ``reply``, ``latency_s``, ``usage``, ``calls`` (each request, retries
        included) and ``verdicts``; on a failed call ``error`` instead of ``reply`` and every
        verdict is ``error``.
        """
        gate = await self.open()
        conversation = exchange.conversation()
        transcript = Transcript(messages=list(conversation))
        started = time.perf_counter()
        result: dict[str, Any] = {}
        try:
            reply = await gate.chat(conversation, None, transcript)
        except (CallError, BudgetExhausted) as exc:
            transcript.error = str(exc)
            result["error"] = f"the target failed: {exc}"
        else:
            transcript.messages.append(Message("assistant", reply.text))
            result.update(
                reply=reply.text,
                model=reply.model,
                finish_reason=reply.finish_reason,
                usage={
                    "prompt_tokens": reply.usage.prompt_tokens,
                    "completion_tokens": reply.usage.completion_tokens,
                },
                truncated=TRUNCATED in transcript.meta,
            )
        result["latency_s"] = time.perf_counter() - started
        calls = [call_json(c) for c in transcript.calls if c.role == "target"]
        verdicts = await self.judge(exchange, transcript)
        result.update(calls=calls, verdicts=[verdict_json(v) for v in verdicts])
        result["behavior"] = {"goal": exchange.behavior().goal}
        return dict(self.scrub(result))

    # transforming -------------------------------------------------------------------------

    async def transform(
        self, attack: str, options: dict[str, Any], text: str, seed: int | None = None
    ) -> dict[str, Any]:
        """Apply one prompt-rewriting attack to ``text``.

        Returns ``{text}``; many-shot adds ``messages``, the fabricated turns to put before it.
        """
        offered = {e["attack"] for e in attack_catalogue(self.campaign.attacker is not None)}
        if attack not in offered:
            raise PlaygroundError(
                f"unknown attack {attack!r}: the playground offers {', '.join(sorted(offered))}"
            )
        if "name" in options:
            raise PlaygroundError("options: 'name' is not an option (the attack is `attack`)")
        try:
            built = registry.build("attack", {**options, "name": attack}).obj
        except PluginError as exc:
            raise PlaygroundError(str(exc)) from exc
        rng = random.Random(seed if seed is not None else secrets.randbits(32))
        try:
            if getattr(built, "needs_attacker", False):
                rewritten = await built.rewrite_async(text, await self._attacker_context(rng))
            else:
                rewritten = built.rewrite(text, rng)
        except AttackerError as exc:
            raise PlaygroundError(f"the attacker model failed: {exc}", 502) from exc
        except CallError as exc:
            raise PlaygroundError(f"the attacker model failed: {exc}", 502) from exc
        result: dict[str, Any] = {"text": rewritten}
        demonstrations = getattr(built, "demonstrations", None)
        if callable(demonstrations):
            result["messages"] = [m.to_dict() for m in demonstrations()]
        return dict(self.scrub(result))

    async def _attacker_context(self, rng: random.Random) -> AttackContext:
        """A context whose ``attacker`` is the campaign's attacker model, gated."""
        await self.open()
        assert self.gate is not None and self.campaign.attacker is not None
        async with self._opening:
            if self.attacker is None:
                target = build_target(self.campaign.attacker)
                gate = CallGate.from_limits(target, self.campaign.limits, role="attacker")
                self.attacker = (gate, target)
        transcript = Transcript()
        return AttackContext(
            target=BoundCaller(self.gate, transcript),
            seed=rng.randrange(2**32),
            transcript=transcript,
            attacker=BoundCaller(self.attacker[0], transcript),
        )

    # saving -------------------------------------------------------------------------------

    def manual_run(self) -> str:
        """The run saved attempts go to.

        The newest run named ``manual`` with this target spec and these judges, else a new one
        (status ``completed``; its plan size grows with each attempt saved).
        """
        target_sha = self.target_spec.spec_sha256
        labels = [j.label for j in self.judges]
        for run in self.store.list_runs():
            if run["name"] != MANUAL or json.loads(run["judges_json"]) != labels:
                continue
            for component in self.store.components(run["id"]):
                if component["kind"] == "target" and component["spec_sha256"] == target_sha:
                    return str(run["id"])
        run_id = new_run_id()
        config = storable_config(self.campaign) | {"name": MANUAL}
        self.store.create_run(
            {
                "id": run_id,
                "name": MANUAL,
                "status": "completed",
                "config_json": json.dumps(config),
                "target_json": json.dumps(describe_target(self.target)),
                "judges_json": json.dumps(labels),
                "seed": self.campaign.seed,
                "plan_size": 0,
                "redline_version": __version__,
            }
        )
        components = [("target", self.target_spec)]
        components += [(j.label, j.spec) for j in self.judges if j.spec is not None]
        self.store.add_components(run_id, components)
        return run_id

    def _store_attempt(self, result: AttemptResult) -> tuple[str, int]:
        """Write one attempt to the manual run (on a worker thread: the store blocks)."""
        store = self.store
        store.add_secrets(campaign_secrets(self.campaign, self.judges))
        run_id = self.manual_run()
        index = len(store.done_attempt_ids(run_id))
        planned = result.planned
        result.planned = PlannedAttempt(
            planned.id, index, planned.behavior, planned.attack_key, planned.repeat, planned.seed
        )
        writer = store.writer(run_id)
        writer.put(result)
        writer.close()
        with store.engine.begin() as conn:
            conn.execute(
                update(schema.runs)
                .where(schema.runs.c.id == run_id)
                .values(plan_size=index + 1, status="completed", updated_at=time.time())
            )
        return run_id, index

    async def save_attempt(
        self, exchange: Exchange, calls: Sequence[CallRecord], error: str | None
    ) -> dict[str, Any]:
        """Judge the conversation again and store it as an attempt of the ``manual`` run.

        The judges judge exactly what is stored (goal, benign flag and category as saved);
        ``calls`` are the target requests the page made, ``error`` the failure of its last
        send, if the conversation ends there.
        """
        if not (exchange.category or "").strip():
            raise PlaygroundError("pick a category before saving")
        if exchange.messages and exchange.messages[-1].role == "user" and error is None:
            raise PlaygroundError("the last message has no reply yet: send it first")
        await self.open()
        transcript = Transcript(messages=exchange.conversation(), calls=list(calls), error=error)
        started = min((c.started_at for c in calls), default=time.time())
        verdicts = await self.judge(exchange, transcript)
        behavior = exchange.behavior()
        attempt_id = hashlib.sha256(secrets.token_bytes(16)).hexdigest()[:16]
        planned = PlannedAttempt(attempt_id, 0, behavior, MANUAL, 0, 0)
        result = AttemptResult(planned, transcript, verdicts, started, time.time())
        async with self._saving:
            run_id, index = await asyncio.to_thread(self._store_attempt, result)
        return dict(
            self.scrub(
                {
                    "run_id": run_id,
                    "attempt_id": attempt_id,
                    "index": index,
                    "verdicts": [verdict_json(v) for v in verdicts],
                }
            )
        )

    async def save_behavior(self, goal: str, category: str, benign: bool) -> dict[str, Any]:
        """Append ``goal`` as a behaviour to the behaviours file (JSONL, never rewritten)."""
        goal, category = goal.strip(), category.strip()
        if not goal:
            raise PlaygroundError("nothing to save: write a goal (or a first message)")
        if category not in CATEGORIES:
            raise PlaygroundError(
                f"unknown category {category!r}: pick one of {', '.join(CATEGORIES)}"
            )
        path = self.behaviors_file
        ident = manual_behavior_id(goal, category, benign)
        row = {"id": ident, "behavior": goal, "category": category, "benign": benign}
        async with self._saving:
            return await asyncio.to_thread(self._append_behavior, path, row)

    @staticmethod
    def _append_behavior(path: Path, row: dict[str, Any]) -> dict[str, Any]:
        if not path.parent.is_dir():
            raise PlaygroundError(f"cannot save to {path}: folder {path.parent} does not exist")
        existing: list[Behavior] = []
        if path.is_file() and path.stat().st_size:
            try:
                existing = load_jsonl(path)
            except DataError as exc:
                raise PlaygroundError(
                    f"{path} is not a behaviour file redline can read, so nothing was added: {exc}",
                    409,
                ) from exc
        if any(b.id == row["id"] for b in existing):
            raise PlaygroundError(f"{path} already has this behaviour (id {row['id']})", 409)
        line = json.dumps(row, ensure_ascii=False) + "\n"
        try:
            with path.open("a+b") as handle:
                handle.seek(0, 2)
                if handle.tell():
                    handle.seek(-1, 2)
                    if handle.read(1) != b"\n":
                        line = "\n" + line
                handle.write(line.encode("utf-8"))
        except OSError as exc:
            raise PlaygroundError(f"cannot write {path}: {exc.strerror or exc}", 500) from exc
        return {"id": row["id"], "file": str(path), "behaviors": len(existing) + 1}


def call_records(rows: Sequence[dict[str, Any]]) -> list[CallRecord]:
    """The page's copies of its target requests (:func:`call_json`) as call records."""
    return [
        CallRecord(
            role="target",
            started_at=float(r.get("started_at") or 0.0),
            latency_s=float(r.get("latency_s") or 0.0),
            ok=bool(r.get("ok")),
            usage=Usage(int(r.get("prompt_tokens") or 0), int(r.get("completion_tokens") or 0)),
            status=r.get("status"),
            error=r.get("error"),
        )
        for r in rows
    ]
