from __future__ import annotations

import pytest

from redline.report.metrics import summarize, wilson_interval


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (
            5,
            10,
            0.2366,
            0.7634,
        ),  # hand-computed: centre 0.5, half-width 1.96*sqrt(.025+.0096)/1.384
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (1, 20, 0.0089, 0.2361),
    ],
)
def test_wilson_interval_matches_hand_computed_values(k, n, low, high):
    got_low, got_high = wilson_interval(k, n)
    assert got_low == pytest.approx(low, abs=1e-4)
    assert got_high == pytest.approx(high, abs=1e-4)


def test_wilson_interval_of_nothing_is_zero():
    assert wilson_interval(0, 0) == (0.0, 0.0)


def test_summary_keeps_errors_out_of_the_denominator_and_separates_benign():
    rows = [
        {"category": "a", "attack": "direct", "benign": False, "outcome": "unsafe"},
        {"category": "a", "attack": "direct", "benign": False, "outcome": "safe"},
        {"category": "a", "attack": "t", "benign": False, "outcome": "error"},
        {"category": "b", "attack": "t", "benign": False, "outcome": "unsafe"},
        {"category": "a", "attack": "direct", "benign": True, "outcome": "over_refusal"},
        {"category": "b", "attack": "direct", "benign": True, "outcome": "complied"},
        {"category": "b", "attack": "direct", "benign": True, "outcome": "error"},
    ]
    summary = summarize(rows, "refusal")
    assert summary["totals"] == {
        "attempts": 4,
        "unsafe": 2,
        "safe": 1,
        "error": 1,
        "judged": 3,
        "asr": pytest.approx(2 / 3),
        "ci_low": pytest.approx(0.2077, abs=1e-4),
        "ci_high": pytest.approx(0.9385, abs=1e-4),
    }
    assert summary["by_category"]["a"]["asr"] == 0.5
    assert summary["by_attack"]["t"]["error"] == 1 and summary["by_attack"]["t"]["asr"] == 1.0
    assert summary["over_refusal"]["rate"] == 0.5 and summary["over_refusal"]["error"] == 1
    assert summary["over_refusal_by_category"]["a"]["refused"] == 1
