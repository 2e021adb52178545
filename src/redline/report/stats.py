"""Statistics for comparing runs and measuring prompt diversity.

McNemar's test compares two runs of the same plan attempt by attempt; Self-BLEU and distinct-n
measure how varied a set of prompts is (lower Self-BLEU and higher distinct-n mean more
diverse), as used to report on generated red-team test cases.
"""

from __future__ import annotations

import bisect
import math
import random
from collections import Counter
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def mcnemar(b: int, c: int) -> dict[str, float | int | str | None]:
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
    """Counts of the ``n``-grams of ``words`` (in the order they first occur)."""
    # zip of shifted views: the same tuples, in the same order, as slicing at each index
    return Counter(zip(*(words[i:] for i in range(n)), strict=False))


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Unique ``n``-grams over all ``n``-grams in ``texts`` (0 when there are none)."""
    return distinct_ns([tokens(text) for text in texts], (n,))[n]


def distinct_ns(token_lists: Sequence[Sequence[str]], ns: Sequence[int]) -> dict[int, float]:
    """:func:`distinct_n` for each ``n`` in ``ns``, of texts already split by :func:`tokens`.

    One set of the distinct ``n``-grams per ``n`` and a count of all of them: no counts kept.
    Unigrams go into their set as the words themselves, not as 1-tuples (the same count).
    """
    figures = {}
    for n in ns:
        seen: set[object] = set()
        add = seen.update
        total = 0
        if n == 1:
            for words in token_lists:
                total += len(words)
                add(words)
        else:
            for words in token_lists:
                if len(words) >= n:
                    total += len(words) - n + 1
                    add(zip(*(words[i:] for i in range(n)), strict=False))
        figures[n] = len(seen) / total if total else 0.0
    return figures


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


SELF_BLEU_SAMPLE = 500
"""Texts Self-BLEU reads at most: a larger set is sampled (:func:`fixed_sample`)."""
SELF_BLEU_SEED = 0
"""The seed of that sample, so the same texts always give the same figure."""


def fixed_sample(texts: Sequence[T], limit: int, seed: int = SELF_BLEU_SEED) -> list[T]:
    """``limit`` of ``texts`` drawn with a fixed seed, kept in their order (all when fewer)."""
    if len(texts) <= limit:
        return list(texts)
    picked = sorted(random.Random(seed).sample(range(len(texts)), limit))
    return [texts[i] for i in picked]


def self_bleu(
    texts: Sequence[str], max_n: int = 4, limit: int = SELF_BLEU_SAMPLE, seed: int = SELF_BLEU_SEED
) -> float | None:
    """Mean BLEU of each text against all the others (``None`` for fewer than two texts).

    When there are more than ``limit`` texts, a sample of ``limit`` drawn with ``seed`` is used
    (:func:`fixed_sample`), so the cost is bounded and the figure deterministic. Over the texts
    used the result is exactly :func:`bleu` of each against the rest, computed in time linear
    in their length: the clipping count of an n-gram against "all the others" is the largest
    count in any other text, found for every text at once with set operations
    (:func:`_matches_against_rest`).
    """
    sample = [tokens(t) for t in fixed_sample(texts, limit, seed)]
    return self_bleu_of_tokens(sample, max_n, limit, seed)


def self_bleu_of_tokens(
    token_lists: Sequence[Sequence[str]],
    max_n: int = 4,
    limit: int = SELF_BLEU_SAMPLE,
    seed: int = SELF_BLEU_SEED,
) -> float | None:
    """:func:`self_bleu` of texts already split by :func:`tokens`."""
    sample = fixed_sample(token_lists, limit, seed)
    if len(sample) < 2:
        return None
    matches = _matches_against_rest(sample, max_n)
    lengths = Counter(len(words) for words in sample)
    ordered = sorted(lengths)
    scores = []
    for words, found in zip(sample, matches, strict=True):
        scores.append(_bleu_against_rest(len(words), found, lengths, ordered, max_n))
    return sum(scores) / len(scores)


def _matches_against_rest(sample: Sequence[Sequence[str]], max_n: int) -> list[list[int]]:
    """Per text, per ``n`` (1 .. ``max_n``): its ``n``-grams clipped against all the others.

    That is the sum over its ``n``-grams of min(its count, the largest count in any other
    text). Each text's ``n``-grams become "occurrence keys", the ``k``-th occurrence of a gram
    its own key (the gram itself for the first, ``(gram, k)`` after it): an occurrence key is
    matched exactly when another text holds the same key, so the clipped count is the number
    of the text's keys that at least two texts hold. Set operations in C, on the whole sample.
    """
    matches = [[0] * max_n for _ in sample]
    for n in range(1, max_n + 1):
        keys_of: list[set[object]] = []
        holders: Counter[object] = Counter()
        for words in sample:
            grams: Sequence[object] = (
                words if n == 1 else list(zip(*(words[i:] for i in range(n)), strict=False))
            )
            keys: set[object] = set(grams)
            if len(keys) != len(grams):  # a gram occurs more than once
                repeated = Counter(grams)
                keys.update(
                    (gram, k) for gram, c in repeated.items() if c > 1 for k in range(2, c + 1)
                )
            keys_of.append(keys)
            holders.update(keys)
        shared = {key for key, count in holders.items() if count > 1}
        for found, keys in zip(matches, keys_of, strict=True):
            found[n - 1] = len(shared.intersection(keys))
    return matches


def _bleu_against_rest(
    length: int, matches: list[int], lengths: Counter[int], ordered: list[int], max_n: int
) -> float:
    """:func:`bleu` of a text of ``length`` words against every other text, from its matches."""
    if not length:
        return 0.0
    log_sum = 0.0
    for n in range(1, max_n + 1):
        total = length - n + 1
        if total <= 0:
            return 0.0
        log_sum += math.log((matches[n - 1] or 0.1) / total)
    closest = _closest_other_length(length, lengths, ordered)
    penalty = 1.0 if length > closest else math.exp(1 - closest / length)
    return penalty * math.exp(log_sum / max_n)


def _closest_other_length(length: int, lengths: Counter[int], ordered: list[int]) -> int:
    """The reference length closest to ``length`` among the other texts (the shorter on a tie)."""
    if lengths[length] > 1:
        return length
    at = bisect.bisect_left(ordered, length)
    below = ordered[at - 1] if at > 0 else None
    above_at = at + 1 if at < len(ordered) and ordered[at] == length else at
    above = ordered[above_at] if above_at < len(ordered) else None
    if below is None:
        return above  # type: ignore[return-value]  # two texts at least: one is another length
    if above is None or length - below <= above - length:
        return below
    return above
