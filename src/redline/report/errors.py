"""Why attempts failed: error messages grouped into a few causes, with counts and examples.

A failed attempt's message is long and specific ("HTTP 500 from http://host/v1/chat/completions:
{...}"); a cause is short and shared ("HTTP 500"), so that a run with hundreds of errors shows
the two or three reasons behind them. The messages come from the store: the ``error`` verdict's
rationale of the reported judge, which is the attempt's own error when the attack failed, or the
judge's failure when the target answered and the judge could not read it.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from redline.report.text import printable

if TYPE_CHECKING:
    from redline.store import Store

EXAMPLES = 3
"""Attempt ids kept per cause."""
MAX_CAUSE = 60
"""Characters of a cause that is not one of the known shapes."""

_HTTP = re.compile(r"\bHTTP (\d{3})\b")
_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exhausted|Timeout)\w*): ?(.*)$", re.S)
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"]*[^\s'\".,:;)]", re.I)
_KNOWN = (
    (re.compile(r"timed out|timeout", re.I), "timeout"),
    (
        re.compile(r"^connection to .* failed|cannot connect|connection refused", re.I | re.S),
        "connection failed",
    ),
    (re.compile(r"malformed JSON", re.I), "malformed JSON"),
    (re.compile(r"has no choices", re.I), "reply without choices"),
    (re.compile(r"^no text at response_path", re.I), "reply without text at response_path"),
    (re.compile(r"empty content|returned empty", re.I), "empty reply"),
    (re.compile(r"^the target never answered", re.I), "the target never answered"),
)


def error_cause(message: str | None, *, judge: bool = False) -> str:
    """The short cause of one error message: ``HTTP 500``, ``timeout``, ``judge: HTTP 503``.

    ``judge`` says the target answered and the judge failed; the cause then starts ``judge:``.
    """
    cause = _cause(printable(message or "unknown error").strip() or "unknown error")
    if judge and not cause.startswith(("judge", "the target never answered")):
        cause = f"judge: {cause}"
    return cause


def _cause(message: str) -> str:
    for prefix, label in (("judge failed: ", "judge"), ("attacker: ", "attacker")):
        if message.startswith(prefix):
            rest = message[len(prefix) :]
            exception = _EXCEPTION.match(rest)
            inner = _known(exception.group(2) if exception else rest)
            if inner is None:
                inner = exception.group(1) if exception else _shorten(rest)
            return f"{label}: {inner}"
    attack = re.match(r"^attack .* failed: (\w+)", message, re.S)
    if attack:
        return f"attack failed: {attack.group(1)}"
    target = re.match(r"^target raised (\w+)", message)
    if target:
        return f"target raised {target.group(1)}"
    return _known(message) or _shorten(message)


def _known(message: str) -> str | None:
    http = _HTTP.search(message)
    if http:
        return f"HTTP {http.group(1)}"
    for pattern, label in _KNOWN:
        if pattern.search(message):
            return label
    return None


def _shorten(message: str) -> str:
    """The first clause of a message, without URLs, at most :data:`MAX_CAUSE` characters."""
    text = re.sub(r" {2,}", " ", _URL.sub("<url>", message))
    text = re.split(r": | \(|\n", text, maxsplit=1)[0].strip() or text.strip()
    return text if len(text) <= MAX_CAUSE else text[: MAX_CAUSE - 1] + "…"


def error_causes(
    errors: list[tuple[str, str | None, bool]], examples: int = EXAMPLES
) -> list[dict[str, Any]]:
    """``[(attempt id, message, judge failed)]`` grouped by cause, most frequent first.

    Each entry: ``cause``, ``count``, ``examples`` (the first ``examples`` attempt ids, in plan
    order) and ``message`` (the first full message, made printable, as an example).
    """
    counts: Counter[str] = Counter()
    ids: dict[str, list[str]] = {}
    first: dict[str, str] = {}
    for attempt_id, message, judge in errors:
        cause = error_cause(message, judge=judge)
        counts[cause] += 1
        kept = ids.setdefault(cause, [])
        if len(kept) < examples:
            kept.append(attempt_id)
        first.setdefault(cause, printable(message or "", multiline=True)[:500])
    return [
        {"cause": cause, "count": count, "examples": ids[cause], "message": first[cause]}
        for cause, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]


def causes_line(causes: list[dict[str, Any]], top: int = 5) -> str:
    """``HTTP 500 (3), timeout (12)``: the most frequent causes, with "+ N more"."""
    shown = ", ".join(f"{c['cause']} ({c['count']})" for c in causes[:top])
    rest = len(causes) - top
    return shown + (f", + {rest} more cause(s)" if rest > 0 else "")


def run_error_causes(store: Store, run_id: str, judge: str) -> list[dict[str, Any]]:
    """:func:`error_causes` of ``judge``'s error verdicts on a stored run.

    The attempt's own error when it failed, else the judge's rationale (the judge failed).
    """
    return error_causes(
        [
            (attempt_id, error if error is not None else rationale, error is None)
            for attempt_id, error, rationale in store.error_verdicts(run_id, judge)
        ]
    )
