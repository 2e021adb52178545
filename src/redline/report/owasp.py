"""A run's figures grouped by OWASP Top 10 for LLM Applications 2025 entry.

Each category of the taxonomy names the OWASP entries it falls under
(:mod:`redline.behaviors.taxonomy`); the harmful attempts of every category mapped to an entry
are counted together under it, with the entry's attack success rate and its Wilson interval.
A category mapped to two entries counts under both; categories with no entry (most content
harms) are left out.
"""

from __future__ import annotations

from typing import Any

from redline.behaviors.taxonomy import CATEGORIES
from redline.report.metrics import Tally


def owasp_groups(by_category: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per OWASP entry the run's categories map to, in the entries' order (LLM01...).

    ``by_category`` is the summary's ``by_category`` (each value a :meth:`Tally.as_dict`).
    Each row: ``owasp``, ``categories`` (sorted) and the summed figures of a :class:`Tally`.
    """
    tallies: dict[str, Tally] = {}
    members: dict[str, list[str]] = {}
    for name, figures in by_category.items():
        category = CATEGORIES.get(name)
        if category is None or not category.owasp:
            continue
        for entry in (e.strip() for e in category.owasp.split(";")):
            tally = tallies.setdefault(entry, Tally())
            tally.add("unsafe", n=figures["unsafe"])
            tally.add("safe", n=figures["safe"])
            tally.add("error", n=figures["error"])
            members.setdefault(entry, []).append(name)
    return [
        {"owasp": entry, "categories": sorted(members[entry]), **tallies[entry].as_dict()}
        for entry in sorted(tallies)
    ]
