"""Plugin discovery: targets, attacks and judges are found through Python entry points.

redline's own plugins are registered in ``pyproject.toml`` under the same entry-point groups a
third-party package would use (``redline.targets``, ``redline.attacks``, ``redline.judges``), so
there is one discovery mechanism. Classes can also be registered at run time with
:meth:`Registry.register` (handy in tests and notebooks).

Loading is guarded: an entry point that fails to import, or whose object does not provide what
its kind must (see :data:`REQUIRED` and docs/architecture.md, "The plugin contract"), gives one
warning line on stderr naming the entry point and why, and is left out of :meth:`Registry.names`;
it never crashes a listing or a scan that does not use it. A config that names it gets a
:class:`PluginError` saying why it could not be loaded.

Building: :func:`build` is the one way an attack, judge or target is made from its config spec.
It validates the options with the plugin's ``Options`` model and returns the object together with
its canonical spec (:class:`Built`): the name (``type`` for a target) plus every option, defaults
filled, nested specs (an attack's ``over``, an ensemble's ``judges``, a judge's ``model``)
canonical too, secrets left out; as canonical JSON (sorted keys, no whitespace) and its SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import sys
import urllib.parse
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import BaseModel, ValidationError

from redline.errors import PluginError

REQUIRED: dict[str, tuple[str, ...]] = {
    "target": ("Options", "chat"),
    "attack": ("name", "Options", "run"),
    "judge": ("name", "Options", "judge"),
}
"""What a plugin class of each kind must provide (everything else is optional)."""

_WARNED: set[tuple[str, str, str]] = set()


def contract_problem(kind: str, obj: Any) -> str | None:
    """Why ``obj`` is not a usable plugin of ``kind``; ``None`` when it is."""
    if not isinstance(obj, type):
        return f"{obj!r} is not a class"
    cls: Any = obj  # a class whose attributes are only known at run time
    missing = [attr for attr in REQUIRED[kind] if not hasattr(cls, attr)]
    if missing:
        return f"{cls.__qualname__} has no {', '.join(missing)} (a {kind} needs " + (
            ", ".join(REQUIRED[kind]) + ")"
        )
    options = cls.Options
    if not (isinstance(options, type) and issubclass(options, BaseModel)):
        return f"{cls.__qualname__}.Options is not a pydantic model"
    method = REQUIRED[kind][-1]
    if not callable(getattr(cls, method)):
        return f"{cls.__qualname__}.{method} is not a method"
    if "name" in REQUIRED[kind] and not isinstance(cls.name, str):
        return f"{cls.__qualname__}.name is not a string"
    return None


class Registry:
    """Maps plugin names to classes for one entry-point group, loading them lazily."""

    def __init__(self, group: str, kind: str) -> None:
        self.group = group
        self.kind = kind
        self._extra: dict[str, Any] = {}
        self._loaded: dict[tuple[str, str], Any | str] = {}
        """Per entry point (name, value): its checked class, or why it cannot be used."""

    def _entry_points(self) -> dict[str, EntryPoint]:
        return {ep.name: ep for ep in entry_points(group=self.group)}

    def _load(self, ep: EntryPoint) -> Any | str:
        """The entry point's class, or (as a string) why it cannot be used; warns once."""
        ident = (ep.name, ep.value)
        if ident not in self._loaded:
            try:
                obj = ep.load()
            except Exception as exc:  # a third party's import may raise anything
                result: Any = f"import failed: {type(exc).__name__}: {exc}"
            else:
                problem = contract_problem(self.kind, obj)
                result = obj if problem is None else problem
            self._loaded[ident] = result
            if isinstance(result, str):
                _warn(self.kind, ep, result)
        return self._loaded[ident]

    def _builtin(self, ep: EntryPoint) -> bool:
        return ep.value.startswith("redline.")

    def names(self) -> list[str]:
        """All usable names, sorted (third-party entry points are loaded and checked)."""
        usable = {
            name
            for name, ep in self._entry_points().items()
            if self._builtin(ep) or not isinstance(self._load(ep), str)
        }
        return sorted(usable | set(self._extra))

    def refresh(self) -> None:
        """Forget what was loaded, so entry points installed since are found and checked again."""
        self._loaded.clear()
        for ident in [i for i in _WARNED if i[0] == self.kind]:
            _WARNED.discard(ident)

    def register(self, name: str, cls: Any) -> None:
        """Register ``cls`` under ``name`` for this process."""
        self._extra[name] = cls

    def get(self, name: str) -> Any:
        """Return the class registered as ``name``; raise :class:`PluginError` if unusable."""
        if name in self._extra:
            return self._extra[name]
        eps = self._entry_points()
        if name not in eps:
            known = ", ".join(self.names()) or "none"
            raise PluginError(f"unknown {self.kind} {name!r} (known: {known})")
        loaded = self._load(eps[name])
        if isinstance(loaded, str):
            raise PluginError(
                f"{self.kind} {name!r} ({eps[name].value}) could not be loaded: {loaded}"
            )
        return loaded


def _warn(kind: str, ep: EntryPoint, why: str) -> None:
    ident = (kind, ep.name, ep.value)
    if ident in _WARNED:
        return
    _WARNED.add(ident)
    line = f"redline: warning: skipped {kind} plugin {ep.name!r} ({ep.value}): {why}"
    print(" ".join(line.split()), file=sys.stderr)


targets = Registry("redline.targets", "target")
attacks = Registry("redline.attacks", "attack")
judges = Registry("redline.judges", "judge")


KINDS = ("target", "attack", "judge")
REDACTED = "<redacted>"


@dataclass(frozen=True)
class Built:
    """A plugin object and the canonical spec it was built from."""

    kind: str
    obj: Any
    spec: dict[str, Any]
    """Name (``type`` for a target) plus every option with defaults filled; no secret values."""
    spec_json: str
    """:attr:`spec` as canonical JSON: sorted keys, no whitespace."""
    spec_sha256: str
    """The SHA-256 of :attr:`spec_json` (UTF-8), hex."""


def canonical_json(spec: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, non-ASCII kept as it is."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_sha256(spec_json: str) -> str:
    """The SHA-256 (hex) of a canonical JSON spec."""
    return hashlib.sha256(spec_json.encode("utf-8")).hexdigest()


def build(kind: str, spec: Any) -> Built:
    """Build the ``kind`` (``target``, ``attack`` or ``judge``) plugin that ``spec`` names.

    ``spec`` is the config form: a name (``"direct"``) or a mapping with ``name`` (``type`` for a
    target) and options; an attack's ``over`` holds the spec of the attack beneath. Options are
    validated with the plugin's ``Options`` model; any problem is a :class:`PluginError` in one
    format: ``KIND 'NAME': option: problem; ...``.
    """
    cls, name, options, over = _validated(kind, spec)
    canonical = _canonical(kind, name, options, over)
    if kind == "attack" and over is not None:
        from redline.attacks.base import StaticAttack, attack_key

        inner = over.obj
        composes = issubclass(cls, StaticAttack) or getattr(cls, "composes_over", False)
        if not isinstance(inner, StaticAttack) or not composes:
            raise PluginError(f"attack {name!r} cannot be composed over {attack_key(inner)!r}")
        obj = cls(options, over=inner)
    else:
        obj = cls(options)
    text = canonical_json(canonical)
    return Built(kind, obj, canonical, text, spec_sha256(text))


def specify(kind: str, spec: Any) -> Built:
    """Like :func:`build`, without constructing the object (``obj`` is ``None``).

    For a spec that is recorded but not used here (a target when a run is prepared).
    """
    canonical = canonical_spec(kind, spec)
    text = canonical_json(canonical)
    return Built(kind, None, canonical, text, spec_sha256(text))


def canonical_spec(kind: str, spec: Any) -> dict[str, Any]:
    """The canonical spec of ``spec`` (validated as :func:`build` does, nothing constructed)."""
    _, name, options, over = _validated(kind, spec, construct_over=False)
    return _canonical(kind, name, options, over)


def _validated(kind: str, spec: Any, construct_over: bool = True) -> tuple[Any, str, Any, Any]:
    """The class, name, validated options and (for an attack) the spec beneath of ``spec``."""
    if kind not in KINDS:
        raise PluginError(f"unknown plugin kind {kind!r} (known: {', '.join(KINDS)})")
    key = "type" if kind == "target" else "name"
    if isinstance(spec, BaseModel):
        spec = spec.model_dump()
    if isinstance(spec, str):
        spec = {key: spec}
    if not isinstance(spec, dict):
        raise PluginError(f"{kind} spec must be a name or a mapping (got {spec!r})")
    spec = dict(spec)
    name = spec.get(key) if kind == "target" else spec.pop(key, None)
    if not isinstance(name, str) or not name:
        hint = " (for example: openai, http, python, local)" if kind == "target" else ""
        raise PluginError(f"{kind} needs a {key!r}{hint} (got {spec!r})")
    over_spec = spec.pop("over", None) if kind == "attack" else None
    cls = _REGISTRIES[kind].get(name)
    try:
        options = cls.Options.model_validate(spec)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or name}: {e['msg']}" for e in exc.errors()
        )
        raise PluginError(f"{kind} {name!r}: {problems}") from exc
    over: Any = None
    if over_spec is not None:
        over = build("attack", over_spec) if construct_over else canonical_spec("attack", over_spec)
    return cls, name, options, over


def _canonical(kind: str, name: str, options: BaseModel, over: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = options.model_dump(mode="json")
    if kind == "target":
        clean = _without_secrets(dumped)
        inner = clean.get("model")
        if isinstance(inner, dict) and isinstance(inner.get("type"), str):
            clean["model"] = canonical_spec("target", inner)  # a model inside an ``app``
        params = clean.get("params")
        if isinstance(params, dict) and isinstance(params.get("model"), dict):
            clean["params"] = {**params, "model": _without_secrets(params["model"])}
        return clean
    canonical: dict[str, Any] = {"name": name, **dumped}
    if over is not None:
        canonical["over"] = over.spec if isinstance(over, Built) else over
    for members in ("judges", "members"):
        value = getattr(options, members, None)
        if kind == "judge" and isinstance(value, list):
            canonical[members] = [canonical_spec("judge", m) for m in value]
    model = getattr(options, "model", None)
    if isinstance(model, dict) and isinstance(model.get("type"), str):
        canonical["model"] = canonical_spec("target", model)
    return canonical


def _without_secrets(spec: dict[str, Any]) -> dict[str, Any]:
    """A target spec safe to store: environment variable names kept, secret values redacted.

    Literal header values (``${NAME}`` references are kept) and the credentials or key-like
    query parameters of a URL option are replaced by ``<redacted>``.
    """
    from redline.targets._http import redact_headers

    clean = dict(spec)
    if isinstance(clean.get("headers"), dict):
        clean["headers"] = redact_headers({str(k): str(v) for k, v in clean["headers"].items()})
    for key in ("base_url", "url"):
        if isinstance(clean.get(key), str):
            clean[key] = _redact_url(clean[key])
    return clean


def _redact_url(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return url
    netloc = parts.netloc
    if parts.username is not None or parts.password is not None:
        netloc = f"{REDACTED}@{host or ''}" + (f":{port}" if port is not None else "")
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        words = ("key", "token", "secret", "sig")
        if any(v and any(w in k.lower() for w in words) for k, v in pairs):
            query = urllib.parse.urlencode(
                [(k, REDACTED if any(w in k.lower() for w in words) else v) for k, v in pairs]
            )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_REGISTRIES = {"target": targets, "attack": attacks, "judge": judges}
