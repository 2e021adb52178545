"""A redline web app served by uvicorn on 127.0.0.1 in a thread, and a small HTTP client for it.

Tests talk to the app through real HTTP (and, in the browser tests, through Chromium).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookiejar import CookieJar
from typing import Any

import pytest

from redline.store import Store
from redline.web import WebSettings, create_app
from redline.web.serving import free_port, serving


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


class Client:
    """HTTP to the live app, keeping cookies; never follows a redirect it is asked not to."""

    def __init__(self, base: str, csrf: str | None = None) -> None:
        self.base = base
        self.csrf = csrf
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Reply:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with self.opener.open(req, timeout=30) as resp:
                return Reply(resp.status, dict(resp.headers), resp.read().decode())
        except urllib.error.HTTPError as err:
            return Reply(err.code, dict(err.headers), err.read().decode())

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, csrf: bool = True, **kw: Any) -> Reply:
        headers = dict(kw.pop("headers", None) or {})
        if csrf and self.csrf:
            headers.setdefault("X-CSRF-Token", self.csrf)
        return self.request("POST", path, body=body if body is not None else {}, headers=headers)


@dataclass
class LiveApp:
    url: str
    settings: WebSettings
    store: Store

    def client(self) -> Client:
        return Client(self.url, self.settings.csrf_token)


@contextmanager
def live_app(settings: WebSettings, store: Store | None = None) -> Iterator[LiveApp]:
    """Serve ``create_app(settings)`` on a free 127.0.0.1 port until the block ends."""
    settings.host = "127.0.0.1"
    settings.port = free_port()
    store = store if store is not None else Store(settings.db)
    with serving(create_app(settings, store), settings.port) as url:
        yield LiveApp(url, settings, store)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
"""Debian's Chromium: the browser tests launch it by path (Playwright downloads nothing)."""

needs_chromium = pytest.mark.skipif(
    not CHROMIUM and not os.environ.get("CI"), reason="Debian's chromium is not installed"
)
"""Mark for browser tests: skipped on a developer machine without chromium, never in CI."""


@contextmanager
def browser_page() -> Iterator[Any]:
    """A Playwright page in headless Debian Chromium; page errors and console errors collected.

    ``page.redline_errors`` lists uncaught page errors and console errors seen so far.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
            page.on(
                "console",
                lambda msg: (
                    errors.append(f"console {msg.type}: {msg.text}")
                    if msg.type == "error"
                    else None
                ),
            )
            page.redline_errors = errors
            yield page
        finally:
            browser.close()
