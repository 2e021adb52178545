"""Build the web app: routes of every page module, the store, the protections."""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from redline.store import Store
from redline.web import explorer, labelling, playground, runs
from redline.web.figures import FigureCache
from redline.web.security import BodyLimitMiddleware, SecurityMiddleware
from redline.web.settings import WebSettings
from redline.web.templating import STATIC


def create_app(settings: WebSettings, store: Store | None = None) -> Starlette:
    """The web app for ``settings`` over ``store`` (opened from ``settings.db`` by default)."""
    store = store if store is not None else Store(settings.db)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        threading.Thread(target=warm, args=(app,), name="warm-caches", daemon=True).start()
        try:
            yield
        finally:
            await playground.shutdown(app)

    app = Starlette(
        routes=[
            *runs.routes,
            *explorer.routes,
            *labelling.routes,
            *playground.routes,
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts()),
            Middleware(SecurityMiddleware, settings=settings),
            Middleware(BodyLimitMiddleware),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.figures = FigureCache(store)
    app.state.label_orders = labelling.OrderCache()
    return app


def warm(app: Starlette) -> None:
    """Fill the caches of the newest runs at the start (figures, labelling orders)."""
    app.state.figures.warm()
    labelling.warm_orders(app.state.store, app.state.label_orders)
