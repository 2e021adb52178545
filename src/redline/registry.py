"""Plugin discovery: targets, attacks and judges are found through Python entry points.

redline's own plugins are registered in ``pyproject.toml`` under the same entry-point groups a
third-party package would use (``redline.targets``, ``redline.attacks``, ``redline.judges``), so
there is one discovery mechanism. Classes can also be registered at run time with
:meth:`Registry.register` (handy in tests and notebooks).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from redline.errors import PluginError


class Registry:
    """Maps plugin names to classes for one entry-point group, loading them lazily."""

    def __init__(self, group: str, kind: str) -> None:
        self.group = group
        self.kind = kind
        self._extra: dict[str, Any] = {}

    def _entry_points(self) -> dict[str, Any]:
        return {ep.name: ep for ep in entry_points(group=self.group)}

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(set(self._entry_points()) | set(self._extra))

    def register(self, name: str, cls: Any) -> None:
        """Register ``cls`` under ``name`` for this process."""
        self._extra[name] = cls

    def get(self, name: str) -> Any:
        """Return the class registered as ``name``; raise :class:`PluginError` if unknown."""
        if name in self._extra:
            return self._extra[name]
        eps = self._entry_points()
        if name not in eps:
            known = ", ".join(self.names()) or "none"
            raise PluginError(f"unknown {self.kind} {name!r} (known: {known})")
        try:
            return eps[name].load()
        except ImportError as exc:  # a plugin whose own imports fail
            raise PluginError(f"{self.kind} {name!r} could not be loaded: {exc}") from exc


targets = Registry("redline.targets", "target")
attacks = Registry("redline.attacks", "attack")
judges = Registry("redline.judges", "judge")
