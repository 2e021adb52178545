"""Jinja templates of the web app: one environment, autoescaping on, shared filters.

Every page extends ``base.html.j2`` and gets ``settings``, ``csrf_token``, ``read_only`` and
``path(route_name, **params)`` (a route's path, relative to the host) from :func:`page`.
Model output is only ever inserted as escaped text: never mark it ``safe``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from redline.report.text import pct, printable

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def interval(figures: dict[str, Any] | None, key: str = "asr", prefix: str = "ci") -> str:
    """``rate [low-high]`` from a figures dict (the report's keys), or an em dash."""
    if not figures or figures.get(key) is None:
        return "—"
    low, high = figures.get(f"{prefix}_low"), figures.get(f"{prefix}_high")
    if low is None or high is None:
        return pct(figures[key])
    return f"{pct(figures[key])} [{100 * low:.0f}–{100 * high:.0f}]"


def when(timestamp: float | None) -> str:
    """A stored UNIX time as local ``YYYY-MM-DD HH:MM``."""
    if timestamp is None:
        return "—"
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def with_query(request: Request, **changes: Any) -> str:
    """The page's URL with some query parameters changed (``None`` removes one)."""
    params = {k: v for k, v in request.query_params.multi_items()}
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    query = urlencode(params)
    return request.url.path + ("?" + query if query else "")


templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name is an error, not an empty cell
    )
)
templates.env.filters.update(pct=pct, interval=interval, when=when, printable=printable)
templates.env.globals.update(with_query=with_query)


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render template ``name`` with the app's common context."""
    settings = request.app.state.settings
    context.update(
        path=lambda name, **params: str(request.app.url_path_for(name, **params)),
        settings=settings,
        csrf_token=settings.csrf_token,
        read_only=settings.read_only,
    )
    return templates.TemplateResponse(request, name, context, status_code=status_code)
