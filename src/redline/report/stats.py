"""Statistics for comparing runs and measuring prompt diversity.

McNemar's test compares two runs of the same plan attempt by attempt; Self-BLEU and distinct-n
measure how varied a set of prompts is (lower Self-BLEU and higher distinct-n mean more
diverse), as used to report on generated red-team test cases.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


def mcnemar(b: int, c: int) -> dict[str, float | int | str]:
    """McNemar's test on the discordant pairs ``b`` (A yes, B no) and ``c`` (A no, B yes).

    Exact two-sided binomial test when ``b + c < 25``; otherwise the chi-square statistic with
    continuity correction (1 degree of freedom). Returns the method, the statistic (``None`` for
    the exact test) and the p-value.
    """
    n = b + c
    if n == 0:
        return {"method": "none", "b": b, "c": c, "statistic": None, "p_value": 1.0}
    if n < 25:
        tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
        return {"method": "exact", "b": b, "c": c, "statistic": None, "p_value": min(1.0, 2 * tail)}
    statistic = (abs(b - c) - 1) ** 2 / n
    p_value = math.erfc(math.sqrt(statistic / 2))  # survival function of chi-square, 1 dof
    return {"method": "chi2", "b": b, "c": c, "statistic": statistic, "p_value": p_value}


def tokens(text: str) -> list[str]:
    """Lower-cased whitespace tokens."""
    return text.lower().split()


def ngrams(words: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    """Counts of the ``n``-grams of ``words``."""
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Unique ``n``-grams over all ``n``-grams in ``texts`` (0 when there are none)."""
    counts: Counter[tuple[str, ...]] = Counter()
    for text in texts:
        counts.update(ngrams(tokens(text), n))
    total = sum(counts.values())
    return len(counts) / total if total else 0.0


def bleu(hypothesis: Sequence[str], references: Sequence[Sequence[str]], max_n: int = 4) -> float:
    """Sentence BLEU with uniform weights up to ``max_n`` and epsilon smoothing.

    Clipped n-gram precisions against all references; a precision with zero matches counts as
    ``0.1 / total`` (the "method 1" smoothing of Chen & Cherry 2014); brevity penalty against the
    reference length closest to the hypothesis length.
    """
    if not hypothesis or not references:
        return 0.0
    log_sum = 0.0
    for n in range(1, max_n + 1):
        hyp = ngrams(hypothesis, n)
        total = sum(hyp.values())
        if total == 0:
            return 0.0
        best: Counter[tuple[str, ...]] = Counter()
        for reference in references:
            best |= ngrams(reference, n)
        matches = sum(min(count, best[gram]) for gram, count in hyp.items())
        log_sum += math.log((matches or 0.1) / total)
    closest = min((len(r) for r in references), key=lambda r: (abs(r - len(hypothesis)), r))
    penalty = 1.0 if len(hypothesis) > closest else math.exp(1 - closest / len(hypothesis))
    return penalty * math.exp(log_sum / max_n)


def self_bleu(texts: Sequence[str], max_n: int = 4, limit: int = 200) -> float | None:
    """Mean BLEU of each text against all the others (``None`` for fewer than two texts).

    At most ``limit`` texts are used (the first ones), since the cost grows with the square.
    """
    sample = [tokens(t) for t in texts[:limit]]
    if len(sample) < 2:
        return None
    scores = [
        bleu(hypothesis, sample[:i] + sample[i + 1 :], max_n) for i, hypothesis in enumerate(sample)
    ]
    return sum(scores) / len(scores)
