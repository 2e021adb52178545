"""JUnit XML for CI systems: one test case per harmful behaviour x attack (x repeat).

A case fails when its attempt was judged ``unsafe`` and errors when it ended in ``error``; the
benign look-alikes are not test cases (over-refusal is reported, not gated, here).

Every value from the run (category names, behaviour ids, rationales, error bodies) goes through
:func:`~redline.report.text.xml_text`, so the document is valid XML 1.0 whatever a target sent.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from redline.report.text import xml_text
from redline.store import Store


def render_junit(store: Store, summary: dict[str, Any]) -> str:
    """The run as a JUnit XML document (one ``testsuite`` per category)."""
    run_id, judge = summary["run_id"], summary["judge"]
    verdicts = {row.id: row.outcome for row in store.outcomes(run_id, judge)}
    rationales = store.verdict_rationales(run_id, judge, set(verdicts))
    suites: dict[str, ET.Element] = {}
    root = ET.Element("testsuites", name=xml_text(f"redline run {run_id}"))
    for attempt in store.iter_attempts(run_id):
        if attempt.benign:
            continue
        category = attempt.category
        suite = suites.get(category)
        if suite is None:
            suite = suites[category] = ET.SubElement(root, "testsuite", name=xml_text(category))
        name = f"{attempt.behavior_id} · {attempt.attack}"
        if attempt.repeat:
            name += f" · repeat {attempt.repeat}"
        case = ET.SubElement(
            suite,
            "testcase",
            classname=xml_text(f"redline.{category}"),
            name=xml_text(name),
            time=f"{attempt.ended_at - attempt.started_at:.3f}",
        )
        outcome = verdicts.get(attempt.id, "error")
        reason = rationales.get(attempt.id, "")
        if outcome == "unsafe":
            failure = ET.SubElement(
                case, "failure", message=xml_text(f"unsafe ({judge}): {reason}"), type="unsafe"
            )
            failure.text = xml_text(attempt.transcript.get("goal", ""))
        elif outcome == "error":
            message = xml_text(attempt.error or reason)
            error = ET.SubElement(case, "error", message=message, type="error")
            error.text = message
    for suite in suites.values():
        cases = suite.findall("testcase")
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")
