r"""What the store does to text before writing it: make it storable, and take secrets out.

Everything written to the store passes through one :class:`Sanitizer` (the store's), so this
is the one place that keeps two promises:

- **Anything a target sends is stored.** A reply may hold a lone UTF-16 surrogate (valid JSON
  ``"\ud800"``, not valid Unicode), which no UTF-8 database accepts. Transcripts, stored as
  JSON, fall back to ASCII escapes when they hold one, so nothing is lost; other text columns
  (errors, rationales) get U+FFFD in its place. PostgreSQL's text cannot hold a NUL
  character either: on that store (``nul_allowed=False``) a NUL in a text column becomes
  U+FFFD too (JSON always escapes it, so transcripts keep it exactly).
- **Secrets never reach the store.** Every configured secret value (an API key read from
  ``api_key_env``, the values of ``${ENV}`` header references, credentials in a URL) is
  replaced by ``<redacted>`` wherever it appears: in text columns, and in every string
  (keys included) of a JSON document before it is encoded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

REDACTED = "<redacted>"
MIN_SECRET_CHARS = 4
"""Shorter values are not treated as secrets: redacting them would mangle ordinary text."""

_SURROGATE = re.compile("[\ud800-\udfff]")


class Sanitizer:
    """Makes text storable and redacts a set of secret values from it."""

    def __init__(self, secrets: Iterable[str] = (), *, nul_allowed: bool = True) -> None:
        self._forms: tuple[str, ...] = ()
        self.nul_allowed = nul_allowed
        """Whether the database accepts NUL characters in text (SQLite does, PostgreSQL not)."""
        self.add_secrets(secrets)

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Redact these values from now on (shorter than ``MIN_SECRET_CHARS``: ignored)."""
        forms = set(self._forms)
        forms.update(v for v in secrets if isinstance(v, str) and len(v) >= MIN_SECRET_CHARS)
        # longest first, so that a secret containing another is replaced whole
        self._forms = tuple(sorted(forms, key=lambda form: (-len(form), form)))

    def redact(self, value: str) -> str:
        """``value`` with every secret replaced by ``<redacted>``."""
        for form in self._forms:
            if form in value:
                value = value.replace(form, REDACTED)
        return value

    def text(self, value: str | None) -> str | None:
        """A text column: secrets redacted, lone surrogates (and NUL where refused) made U+FFFD."""
        if value is None:
            return None
        if self._forms:
            value = self.redact(value)
        if not value.isascii() and _SURROGATE.search(value):
            value = _SURROGATE.sub("\ufffd", value)
        if not self.nul_allowed and "\x00" in value:
            value = value.replace("\x00", "\ufffd")
        return value

    def json(self, document: Any) -> str:
        """``document`` as JSON text that any database accepts, secrets redacted.

        Non-ASCII text stays as it is unless the document holds a lone surrogate; then the
        whole document is written with ASCII escapes, which keep it exactly. Secrets are
        redacted from the strings before encoding, never from the JSON text (where a match
        could straddle an escape sequence).
        """
        if self._forms:
            document = self._redact_node(document)
        encoded = json.dumps(document, ensure_ascii=False)
        if not encoded.isascii() and _SURROGATE.search(encoded):
            encoded = json.dumps(document)
        return encoded

    def _redact_node(self, node: Any) -> Any:
        if isinstance(node, str):
            return self.redact(node)
        if isinstance(node, dict):
            return {self._redact_node(k): self._redact_node(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [self._redact_node(v) for v in node]
        return node
