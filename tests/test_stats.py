from __future__ import annotations

import math

import pytest

from redline.report.stats import bleu, distinct_n, mcnemar, self_bleu


def test_mcnemar_exact_matches_the_binomial_by_hand():
    # b=10, c=2: p = 2 * (C(12,0) + C(12,1) + C(12,2)) / 2**12 = 2 * 79 / 4096
    result = mcnemar(10, 2)
    assert result["method"] == "exact"
    assert result["p_value"] == pytest.approx(158 / 4096)
    assert mcnemar(3, 3)["p_value"] == 1.0
    assert mcnemar(0, 0)["p_value"] == 1.0


def test_mcnemar_chi_square_with_continuity_correction_by_hand():
    # b=30, c=10: statistic = (|30-10| - 1)^2 / 40 = 361 / 40 = 9.025; p = erfc(sqrt(9.025/2))
    result = mcnemar(30, 10)
    assert result["method"] == "chi2" and result["statistic"] == pytest.approx(9.025)
    assert result["p_value"] == pytest.approx(0.002663, abs=1e-6)
    assert result["p_value"] == pytest.approx(math.erfc(math.sqrt(4.5125)))


def test_distinct_n_by_hand():
    # unigrams: a b a c -> 3 unique of 4; bigrams: (a b) (b a) (a c) -> 3 of 3
    assert distinct_n(["a b", "a c"], 1) == pytest.approx(3 / 4)
    assert distinct_n(["a b a c"], 2) == 1.0
    assert distinct_n([], 1) == 0.0


def test_bleu_by_hand():
    hyp, ref = ["the", "cat", "sat"], ["the", "cat", "ran"]
    # unigram precision 2/3, bigram precision 1/2, equal lengths so no brevity penalty
    assert bleu(hyp, [ref], max_n=2) == pytest.approx(math.sqrt(2 / 3 * 1 / 2))
    # unigram 1/2; the one bigram does not match: smoothed to 0.1 / 1
    assert bleu(["a", "b"], [["a", "c"]], max_n=2) == pytest.approx(math.sqrt(1 / 2 * 0.1))
    # shorter hypothesis: brevity penalty exp(1 - 4/2)
    assert bleu(["x", "y"], [["x", "y", "z", "w"]], max_n=1) == pytest.approx(math.exp(-1))


def test_self_bleu_by_hand():
    texts = ["the cat sat", "the cat ran"]
    # symmetric pair: each scores sqrt(2/3 * 1/2) against the other
    assert self_bleu(texts, max_n=2) == pytest.approx(math.sqrt(1 / 3))
    assert self_bleu(["a b c", "a b c"], max_n=2) == pytest.approx(1.0)
    assert self_bleu(["only one"]) is None
