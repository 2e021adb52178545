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
"""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import BaseModel

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
