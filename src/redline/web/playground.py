"""The playground (being built: see docs/webapp.md)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute

routes: list[BaseRoute] = []


async def shutdown(app: Starlette) -> None:
    """Close what the playground opened (its target's connections)."""
