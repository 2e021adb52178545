"""What one ``redline serve`` process serves, and how it is protected."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address to bind) only accepts connections from this machine."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class WebSettings:
    """The settings of one web app.

    ``token``: when set, every request must carry it (the ``?token=`` link sets a cookie);
    required when the app listens on anything but the loopback interface. ``read_only`` turns
    labelling and the playground off. ``campaign`` is the loaded campaign whose target and
    judges the playground uses (``None``: the quick campaign's). ``behaviors_file`` is where the
    playground saves prompts as new behaviours.
    """

    db: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    read_only: bool = False
    token: str | None = None
    labeller: str | None = None
    campaign: Any = None
    behaviors_file: Path = Path("behaviors.playground.jsonl")
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    """Sent in every page (a ``<meta>`` tag) and required in the ``X-CSRF-Token`` header of
    every state-changing request: a page of another origin cannot read it."""

    def allowed_hosts(self) -> list[str]:
        """Host headers accepted: on loopback, only this machine's names (no DNS rebinding)."""
        if is_loopback(self.host):
            return ["127.0.0.1", "localhost", "[::1]"]
        return ["*"]
