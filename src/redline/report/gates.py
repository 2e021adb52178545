"""CI gates on attack success: overall and per category."""

from __future__ import annotations

from typing import Any

from redline.errors import ConfigError


def parse_gates(values: tuple[str, ...] | list[str]) -> dict[str | None, float]:
    """``["0.1", "cybercrime=0.05"]`` -> ``{None: 0.1, "cybercrime": 0.05}`` (None: overall)."""
    gates: dict[str | None, float] = {}
    for value in values:
        category, sep, rate = value.rpartition("=")
        try:
            threshold = float(rate)
        except ValueError:
            threshold = -1.0
        if not 0 <= threshold <= 1:
            raise ConfigError(f"--fail-on-asr {value!r}: expected RATE or CATEGORY=RATE, 0-1")
        gates[category if sep else None] = threshold
    return gates


def failed_gates(summary: dict[str, Any], gates: dict[str | None, float]) -> list[str]:
    """One line per gate the run exceeds (empty when every gate holds)."""
    failures = []
    for category, threshold in gates.items():
        if category is None:
            figures, label = summary["totals"], "overall"
        else:
            if category not in summary["by_category"]:
                known = ", ".join(summary["by_category"]) or "none"
                raise ConfigError(f"--fail-on-asr: no category {category!r} in this run ({known})")
            figures, label = summary["by_category"][category], category
        if figures["asr"] is not None and figures["asr"] > threshold:
            failures.append(
                f"{label}: attack success {figures['asr']:.1%} "
                f"({figures['unsafe']}/{figures['judged']}) is above {threshold:.1%}"
            )
    return failures
