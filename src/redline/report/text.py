"""Text from a run, made safe for where it is shown: the terminal, XML.

Everything a target sends (and every name that comes from a config or data file: run names,
category names, model names, judge labels) is untrusted. In a terminal, an escape sequence in
it could set the window title (OSC), clear the screen or move the cursor; in XML, a control
character makes the whole document invalid. :func:`printable` is the one function that data
passes through on its way to the terminal; :func:`xml_text` on its way into XML.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

# ANSI escape sequences whole (so that "[2J" does not remain after ESC is removed): CSI
# (ESC [ ... final byte, or its 8-bit form U+009B), OSC / DCS / SOS / PM / APC strings up to
# their terminator (BEL or ST, in 7- or 8-bit form), and two-character ESC sequences.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[\x20-\x7e]?"
)
# C0 controls but tab and newline, DEL, C1 controls, and the Unicode bidirectional overrides,
# embeddings and isolates (they reorder what the terminal shows: "Trojan Source").
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile(r"[\t\n]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")

# XML 1.0 allows tab, newline, carriage return, U+0020-U+D7FF, U+E000-U+FFFD and the planes
# above; nothing else, not even as a character reference.
_NOT_XML = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def printable(value: Any, *, multiline: bool = False) -> str:
    """``value`` as text that is safe to print to a terminal.

    Escape sequences are removed whole and every other control character is dropped (C0 but
    tab and newline, DEL, C1, bidirectional overrides); lone surrogates become U+FFFD. Tabs and
    newlines are kept with ``multiline``, else each becomes a space (a name is one line).
    Rich markup is not escaped here: print the result as a :class:`rich.text.Text` (see
    :func:`plain`) or through :func:`rich.markup.escape`.
    """
    text = value if isinstance(value, str) else str(value)
    text = _ESCAPE_SEQUENCE.sub("", text)
    text = _CONTROL.sub("", text)
    text = _SURROGATE.sub("\ufffd", text)
    if not multiline:
        text = _LINE_BREAKS.sub(" ", text)
    return text


def plain(value: Any, style: str = "") -> Any:
    """``value`` made :func:`printable`, as a rich ``Text`` (so no markup in it is read)."""
    from rich.text import Text

    return Text(printable(value), style=style)


def markup_safe(value: Any) -> str:
    """``value`` made :func:`printable` and escaped for rich markup (for f-string messages)."""
    from rich.markup import escape

    return escape(printable(value))


def xml_text(value: Any) -> str:
    r"""``value`` with every character XML 1.0 forbids written as a visible escape (``\x1b``).

    ElementTree escapes ``<``, ``>``, ``&`` and quotes but writes control characters as they
    are, which makes the document invalid; they are shown instead, so nothing is lost silently.
    """
    text = value if isinstance(value, str) else str(value)
    return _NOT_XML.sub(_escape_char, text)


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def redacted(text: str) -> str:
    """A reply replaced by the start of its SHA-256 and its length (``--redact``)."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"[redacted: sha256 {digest}…, {len(text)} characters]"


def pct(value: float | None, digits: int = 1) -> str:
    """``0.1234`` -> ``12.3%``; ``None`` (nothing measured) -> an em dash."""
    return "—" if value is None else f"{100 * value:.{digits}f}%"
