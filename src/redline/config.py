"""The campaign config: its schema (pydantic) and a loader whose errors name file, key and line.

See ``docs/config.md`` for the reference. The loader validates everything a run needs before it
starts: target options (by the target plugin's own schema), attack and judge specs, and that
behaviour files exist and parse.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from redline.errors import ConfigError, DataError, PluginError, RedlineError

MAX_SEED = 2**63 - 1
"""Seeds are stored as signed 64-bit integers: 0..MAX_SEED."""

DEFAULT_JUDGE: str | dict[str, Any] = "harm"
"""The judge a campaign uses when it names none (also the quick scan's, and what ``redline
judges eval default`` measures): the single source of the default."""


def match_judge_label(requested: str, labels: list[str]) -> str:
    """The stored judge label that ``requested`` (from ``--judge``) means.

    A label itself, or a judge's plain name when exactly one label has it: ``rubric`` means
    ``rubric(max_tokens=96)`` when that is the run's only rubric judge. Anything else is
    returned unchanged, for the caller to report as unknown (an ambiguous name is an error
    that lists the candidates).
    """
    if requested in labels:
        return requested
    named = [label for label in labels if label.split("(", 1)[0] == requested]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise ConfigError(
            f"judge {requested!r} is ambiguous: give one of {', '.join(map(repr, named))}"
        )
    return requested


class Limits(BaseModel):
    """How hard redline may push the target."""

    model_config = ConfigDict(extra="forbid")

    concurrency: int = Field(16, ge=1, le=4096)
    adaptive_concurrency: bool = True
    """Halve the calls in flight when a model answers 429 or 503 and grow them back one at a
    time after that many successes, never above ``concurrency`` (AIMD); off: a fixed limit."""
    requests_per_minute: float | None = Field(None, gt=0)
    max_target_calls: int | None = Field(None, ge=1)
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(4, ge=0, le=20)
    backoff_initial_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(30.0, ge=0)
    retry_after_max_s: float = Field(300.0, ge=0)
    """The longest wait a server's Retry-After may impose (it wins over ``backoff_max_s``)."""
    max_reply_chars: int = Field(1_000_000, ge=1)
    """Longer replies are cut here; the attempt's transcript meta records the cut."""

    @model_validator(mode="after")
    def _backoff_order(self) -> Limits:
        if self.backoff_initial_s > self.backoff_max_s:
            raise ValueError(
                f"backoff_initial_s ({self.backoff_initial_s:g}) is larger than backoff_max_s "
                f"({self.backoff_max_s:g}): the first wait cannot exceed the longest"
            )
        return self


class ExecutorConfig(BaseModel):
    """Where attempts run: this process (``local``) or Ray actors (``ray``, docs/scale.md)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["local", "ray"] = "local"
    address: str | None = None
    """The Ray cluster to join (``auto``, ``ray://HOST:10001``, ``HOST:6379``); none: start a
    Ray instance on this machine."""
    actors: int = Field(2, ge=1, le=10_000)
    """Ray actors, each with its own target, attacker and judges, running ``limits.concurrency``
    attempts at once."""
    cpus_per_actor: float = Field(1.0, ge=0)
    """CPUs Ray reserves for each actor (places them; one per node when it equals a node's)."""
    max_actor_restarts: int = Field(3, ge=0)
    """Actors started in place of ones that died, over the whole run."""
    batch: int = Field(4, ge=1, le=1000)
    """Attempts sent to an actor in one call: less overhead per attempt; each call's results
    come back together, when the slowest of them is done."""


class BehaviorSource(BaseModel):
    """Where behaviours come from, and which of them to use."""

    model_config = ConfigDict(extra="forbid")

    builtin: str | None = None
    file: str | None = None
    columns: dict[str, str] | None = None
    categories: list[str] | None = None
    sample: int | None = Field(None, ge=1)
    """Keep this many harmful behaviours (seeded), with their paired look-alikes."""
    per_category: int | None = Field(None, ge=1)
    """Keep at most this many harmful behaviours per category (seeded), with look-alikes."""
    benign: bool = True
    """Include the benign look-alikes (they measure over-refusal)."""

    @model_validator(mode="after")
    def _one_source(self) -> BehaviorSource:
        # a public set (harmbench, ...) takes both: its name and the user's copy of its file
        if self.builtin is None and self.file is None:
            raise ValueError("give exactly one of 'builtin' or 'file'")
        if self.builtin is not None and self.file is not None and self.columns is not None:
            raise ValueError("'columns' is for your own CSV files, not a built-in set's file")
        return self


def _public_set_names() -> tuple[str, ...]:
    """The public behaviour sets a bare name in ``behaviors`` stands for (``[harmbench]``)."""
    from redline.behaviors.public import PUBLIC_SETS

    return tuple(PUBLIC_SETS)


def _specs(name: str) -> list[Any]:
    """A default list of one spec (a fresh list each time, typed to fit any list of specs)."""
    return [name]


class Campaign(BaseModel):
    """A whole campaign file."""

    model_config = ConfigDict(extra="forbid")

    def limits_for(self, role: str) -> Limits:
        """The limits of one role's models: ``target``, ``attacker``, ``judge`` (and scorer)."""
        if role == "attacker" and self.attacker_limits is not None:
            return self.attacker_limits
        if role == "judge" and self.judge_limits is not None:
            return self.judge_limits
        return self.limits

    name: str | None = None
    target: dict[str, Any]
    attacker: dict[str, Any] | None = None
    """The model that writes attacks (for translate, pair, tap, crescendo, generate)."""
    scorer: dict[str, Any] | None = None
    """The model that rates replies 1-10 inside attack loops [default: the attacker]."""
    behaviors: list[str | BehaviorSource] = Field(default_factory=lambda: _specs("builtin:core"))
    attacks: list[str | dict[str, Any]] = Field(
        default_factory=lambda: _specs("direct"), min_length=1
    )
    benign_attacks: list[str | dict[str, Any]] = Field(default_factory=lambda: _specs("direct"))
    """Attacks applied to benign look-alikes (over-refusal is usually measured on plain asks)."""
    judges: list[str | dict[str, Any]] = Field(
        default_factory=lambda: [copy.deepcopy(DEFAULT_JUDGE)], min_length=1
    )
    limits: Limits = Field(default_factory=Limits)
    attacker_limits: Limits | None = None
    """Limits of the attacker model [default: ``limits``, less its rate limit]: its own
    provider's concurrency, timeout, retries and ``requests_per_minute`` (the run's call budget
    stays the target's)."""
    judge_limits: Limits | None = None
    """Limits of the judge models (guards, rubric, the attack loops' scorer) [default:
    ``limits``]."""
    seed: int = Field(0, ge=0, le=MAX_SEED)
    """Any integer from 0 to 2**63 - 1 (the store keeps it as a signed 64-bit integer)."""
    repeats: int = Field(1, ge=1, le=1000)
    executor: ExecutorConfig | None = None
    """Where attempts run [default: this process]; ``redline scan --executor`` overrides it."""

    def sources(self) -> list[BehaviorSource]:
        """Behaviour sources with the ``builtin:NAME`` shorthand expanded."""
        out = []
        for item in self.behaviors:
            if isinstance(item, BehaviorSource):
                out.append(item)
            elif item.startswith("builtin:"):
                out.append(BehaviorSource(builtin=item.removeprefix("builtin:")))
            elif item in _public_set_names():
                out.append(BehaviorSource(builtin=item))
            else:
                out.append(BehaviorSource(file=item))
        return out


def _node_line(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest node found along ``loc`` in a composed YAML tree.

    A key that is missing (a required field) points at the mapping that should hold it.
    """
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


class _Located:
    """Formats problems as ``FILE:LINE: key: message``."""

    def __init__(self, source: str, root: yaml.Node | None) -> None:
        self.source = source
        self.root = root

    def where(self, loc: tuple[Any, ...]) -> str:
        line = _node_line(self.root, loc)
        return f"{self.source}:{line}" if line else self.source

    def error(self, loc: tuple[Any, ...], message: str) -> ConfigError:
        return ConfigError(f"{self.where(loc)}: {_format_loc(loc)}: {message}")

    def from_validation(self, exc: ValidationError, prefix: tuple[Any, ...] = ()) -> ConfigError:
        lines = []
        for err in exc.errors():
            loc = prefix + tuple(p for p in err["loc"] if not _is_union_tag(p))
            lines.append(f"{self.where(loc)}: {_format_loc(loc)}: {_message(loc, err)}")
        return ConfigError("\n".join(dict.fromkeys(lines)))


def _message(loc: tuple[Any, ...], err: Any) -> str:
    """A validation error's message, reworded where pydantic's own says too little."""
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if loc == ("seed",) and err["type"] in ("greater_than_equal", "less_than_equal"):
        return f"must be an integer from 0 to 2**63 - 1 ({MAX_SEED}), got {err['input']!r}"
    if loc in (("attacks",), ("judges",)) and err["type"] == "too_short":
        example = "direct" if loc == ("attacks",) else "harm"
        return f"is empty: list at least one (for example [{example}])"
    return str(err["msg"]).removeprefix("Value error, ")


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and (part in {"str", "BehaviorSource"} or "[" in part)


def parse_campaign(data: Any, source: str = "<config>", root: yaml.Node | None = None) -> Campaign:
    """Validate a config mapping, including plugin options; relative files stay as given."""
    located = _Located(source, root)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping of keys (target, attacks, ...)")
    if "target" in data and not isinstance(data["target"], dict):
        raise located.error(("target",), "must be a mapping with at least 'type'")
    try:
        campaign = Campaign.model_validate(data)
    except ValidationError as exc:
        raise located.from_validation(exc) from exc
    _validate_target(campaign.target, located)
    for role in ("attacker", "scorer"):
        spec = getattr(campaign, role)
        if spec is not None:
            _validate_target(spec, located, (role,))
    _validate_plugins(campaign, located)
    return campaign


def _validate_target(
    target: dict[str, Any], located: _Located, loc: tuple[Any, ...] = ("target",)
) -> None:
    from redline import registry

    type_name = target.get("type")
    if not isinstance(type_name, str):
        raise located.error((*loc, "type"), "missing (for example: openai, http, python, local)")
    try:
        cls = registry.targets.get(type_name)
    except PluginError as exc:
        raise located.error((*loc, "type"), str(exc)) from exc
    try:
        cls.Options.model_validate(target)
    except ValidationError as exc:
        raise located.from_validation(exc, loc) from exc
    url_key = URL_KEYS.get(type_name)
    if url_key is not None:
        problem = http_url_problem(target.get(url_key))
        if problem is not None:
            raise located.error((*loc, url_key), problem)


URL_KEYS = {"openai": "base_url", "http": "url"}
"""The URL option of each built-in network target, checked at config time."""


def http_url_problem(value: Any) -> str | None:
    """Why ``value`` is not an ``http://`` or ``https://`` URL with a host; ``None`` if it is."""
    from urllib.parse import urlsplit

    if not isinstance(value, str):
        return None  # the target's own schema reports a wrong type
    example = "expected e.g. http://127.0.0.1:8000/v1"
    value = re.sub(r"//[^/@\s]*@", "//<credentials>@", value)  # never echo a password
    if value != value.strip():
        return f"{value!r} has spaces around it"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError as exc:
        return f"{value!r} is not a valid URL ({exc})"
    if parts.scheme.lower() in ("http", "https"):
        return None if parts.hostname else f"{value!r} has no host ({example})"
    if "://" in value:
        scheme = value.split("://", 1)[0]
        return f"{value!r}: only http:// and https:// URLs are supported, not {scheme}://"
    if value and " " not in value and not value.startswith("/"):
        return f"{value!r} has no scheme: did you mean 'http://{value}'?"
    return f"{value!r} is not an http:// or https:// URL ({example})"


def _validate_plugins(campaign: Campaign, located: _Located) -> None:
    from redline.attacks import attack_key, build_attack
    from redline.judges import build_judge, judge_label

    for key, items, builder in (
        ("attacks", campaign.attacks, build_attack),
        ("benign_attacks", campaign.benign_attacks, build_attack),
        ("judges", campaign.judges, build_judge),
    ):
        seen: dict[str, int] = {}
        for index, spec in enumerate(items):
            try:
                built: Any = builder(spec)  # an attack or a judge, by ``key``
            except PluginError as exc:
                raise located.error((key, index), str(exc)) from exc
            identity = judge_label(built) if key == "judges" else attack_key(built)
            if identity in seen:
                problem = _duplicate(key, identity, seen[identity], located)
                raise located.error((key, index), problem)
            seen[identity] = index
            if key == "judges":
                _validate_judge_models(built, located, index)
            elif campaign.attacker is None:
                needy = next((a for a in attack_chain(built) if needs_attacker(a)), None)
                if needy is not None:
                    raise located.error(
                        (key, index),
                        f"attack {needy.name!r} needs an attacker model (the model that writes "
                        "attacks): add `attacker: {type: openai, base_url: ..., model: ...}` "
                        "to the campaign",
                    )


def _duplicate(key: str, identity: str, first: int, located: _Located) -> str:
    """Why a second spec with the same identity (attempt key, or verdict label) is refused."""
    where = located.where((key, first))
    if key == "judges":
        return (
            f"judge {identity!r} is given twice (also {key}[{first}], at {where}): their verdicts "
            "would be stored under one label; remove one, or give one a different `label`"
        )
    return (
        f"attack {identity!r} is given twice (also {key}[{first}], at {where}): the same attack "
        "with the same options makes the same attempts; remove one"
    )


def attack_chain(attack: Any) -> list[Any]:
    """The attack and every attack beneath it (its ``over`` chain)."""
    chain = []
    while attack is not None:
        chain.append(attack)
        attack = getattr(attack, "over", None)
    return chain


def needs_attacker(attack: Any) -> bool:
    """Whether ``attack`` asks the campaign's attacker model (its class sets ``needs_attacker``)."""
    return bool(getattr(attack, "needs_attacker", False))


def _validate_judge_models(judge: Any, located: _Located, index: int) -> None:
    from redline.judges import ModelJudge, sub_judges

    for member in sub_judges(judge):
        if isinstance(member, ModelJudge):
            _validate_target(member.options.model, located, ("judges", index, "model"))


def load_config(path: str | Path) -> Campaign:
    """Read, validate and return a campaign file; relative data paths resolve against it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from exc
    from redline.behaviors import UnknownCategoryError

    campaign = parse_campaign(data, str(path), root)
    located = _Located(str(path), root)
    resolved = []
    for index, source in enumerate(campaign.sources()):
        if source.file is not None and not Path(source.file).is_absolute():
            source = source.model_copy(update={"file": str(path.parent / source.file)})
        try:
            load_behaviors([source], campaign.seed)
        except UnknownCategoryError as exc:
            raise located.error(("behaviors", index, "categories", exc.position), str(exc)) from exc
        except DataError as exc:
            raise located.error(("behaviors", index), str(exc)) from exc
        resolved.append(source)
    return campaign.model_copy(update={"behaviors": resolved})


def load_behaviors(sources: list[BehaviorSource], seed: int) -> list[Any]:
    """Load and select every source's behaviours, in order; duplicate ids are an error."""
    from redline.behaviors import load_builtin, load_file, select

    out = []
    seen: set[str] = set()
    for source in sources:
        loaded = (
            load_builtin(source.builtin, source.file)
            if source.builtin is not None
            else load_file(source.file or "", source.columns)
        )
        chosen = select(
            loaded,
            categories=source.categories,
            include_benign=source.benign,
            sample=source.sample,
            per_category=source.per_category,
            seed=seed,
        )
        for behavior in chosen:
            if behavior.id in seen:
                raise DataError(f"behaviour id {behavior.id!r} is given by more than one source")
            seen.add(behavior.id)
        out.extend(chosen)
    if not out:
        raise DataError("no behaviours selected (check the sources and their filters)")
    return out


__all__ = ["BehaviorSource", "Campaign", "Limits", "RedlineError", "load_behaviors", "load_config"]
