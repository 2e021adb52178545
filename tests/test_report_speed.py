"""The faster report paths give the same figures as the straightforward ones."""

from __future__ import annotations

import importlib.util
import math
import random
import sys
from collections import Counter
from pathlib import Path

import pytest

from redline.cli.runs import _run_asr
from redline.report.metrics import Tally, summarize
from redline.report.stats import distinct_n, distinct_ns, ngrams, self_bleu, tokens
from redline.report.summary import run_summary
from redline.store import Store

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _naive_ngrams(words, n):
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def _naive_distinct(texts, n):
    counts: Counter = Counter()
    for text in texts:
        counts.update(_naive_ngrams(tokens(text), n))
    total = sum(counts.values())
    return len(counts) / total if total else 0.0


def _texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    vocabulary = ["the", "a", "how", "make", "step", "Guide", "code", "x", "y"]
    return [
        " ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 12))) for _ in range(count)
    ]


def test_ngrams_same_counts_in_the_same_order():
    for words in (tokens(t) for t in _texts(1, 50)):
        for n in range(1, 5):
            fast, naive = ngrams(words, n), _naive_ngrams(words, n)
            assert fast == naive
            assert list(fast) == list(naive)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_distinct_n_same_as_counting_every_ngram(seed):
    texts = _texts(seed, 80)
    split = [tokens(t) for t in texts]
    both = distinct_ns(split, (1, 2, 3))
    for n in (1, 2, 3):
        assert distinct_n(texts, n) == _naive_distinct(texts, n) == both[n]
    assert distinct_ns([], (1, 2)) == {1: 0.0, 2: 0.0}
    assert distinct_n(["", "a"], 2) == 0.0


def test_self_bleu_unchanged_by_sampling_tokens_first():
    texts = _texts(3, 40)
    value = self_bleu(texts)
    assert value is not None and not math.isnan(value)
    assert self_bleu(texts, limit=10) == self_bleu(texts, limit=10)


@pytest.fixture(scope="module")
def bench_store(tmp_path_factory):
    pytest.importorskip("starlette")
    spec = importlib.util.spec_from_file_location("bench_webapp", BENCHMARKS / "webapp.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_webapp"] = module
    spec.loader.exec_module(module)
    path = tmp_path_factory.mktemp("bench") / "store.db"
    module.build_store(path, 1500)
    store = Store(path)
    yield store, module.RUN_ID
    store.close()


def test_summary_figures_same_as_summarizing_every_verdict(bench_store):
    store, run_id = bench_store
    rows = store.outcomes(run_id)
    for judge in ("refusal", "harm"):
        summary = run_summary(store, run_id, judge)
        expected = summarize([row for row in rows if row.judge == judge], judge)
        for key, value in expected.items():
            assert summary[key] == value, key
        assert summary["stored_attempts"] == len({row.id for row in rows})
        for name in ("refusal", "harm"):
            figures = summarize([row for row in rows if row.judge == name], name)
            assert summary["judge_comparison"][name]["totals"] == figures["totals"]


def test_verdict_ids_and_counts_match_the_rows(bench_store):
    store, run_id = bench_store
    rows = store.outcomes(run_id, "harm")
    ids = store.verdict_ids(run_id, "harm", ("unsafe", "error"))
    assert ids["unsafe"] == {row.id for row in rows if row.outcome == "unsafe"}
    assert ids["error"] == {row.id for row in rows if row.outcome == "error"}
    counted = store.outcome_counts(run_id, "harm")
    assert sum(n for _, n in counted) == len(rows)


def test_runs_asr_same_as_tallying_every_verdict(bench_store):
    store, run_id = bench_store
    row = next(r for r in store.list_runs() if r["id"] == run_id)
    tally = Tally()
    for outcome in store.outcomes(run_id, "refusal"):
        if not outcome.benign:
            tally.add(outcome.outcome)
    asr = _run_asr(store, row)
    assert asr["asr"] == tally.as_dict()["asr"]
    assert (asr["unsafe"], asr["judged"], asr["error"]) == (tally.unsafe, tally.judged, tally.error)


def test_summary_without_attempt_figures_is_the_same_less_those(bench_store):
    store, run_id = bench_store
    full = run_summary(store, run_id)
    lite = run_summary(store, run_id, attempt_figures=False)
    assert "diversity" in full and "success_at_n" in full
    assert lite == {k: v for k, v in full.items() if k not in ("diversity", "success_at_n")}
    assert list(lite) == [k for k in full if k not in ("diversity", "success_at_n")]
