"""Pages of the web app (being built: see docs/webapp.md)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
