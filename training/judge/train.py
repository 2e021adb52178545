"""Train the ``harm`` judge (and the ``refusal`` classifier it reads) and report honestly.

Needs scikit-learn (``pip install -e '.[train]'``). Steps:

1. read the normalised sources in ``data/`` (real models' replies from public labelled sets,
   team-written cases; see SOURCES.md) and the team's refusal corpus (``training/refusal``);
2. refusal head: a 3-class logistic regression over :mod:`redline.judges.refusal_features`
   on the team corpus and every real reply with a refusal label (keyword-made labels at a
   lower weight); written to the ``refusal`` judge's package weights;
3. harm head: an n-gram logistic regression of the reply (its out-of-fold log-odds), then
   gradient boosted trees over the dense features of :mod:`redline.judges.harm_features`;
   sources are weighted so that no one source dominates;
4. leave-one-source-out: for every source, both heads retrained without it and scored on it;
   the development sets (``split: dev``) are scored by the final model and never trained on;
5. the weights go to ``src/redline/judges/data/harm_classifier.json``, the figures to
   ``last_report.json``.

Usage: python training/judge/train.py [--quick] [--no-loso] [--out FILE]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "training/refusal"))

from corpus import training_examples  # noqa: E402
from generate import examples as generated_examples  # noqa: E402
from redline.judges.harm import HarmModel, linear_logit  # noqa: E402
from redline.judges.harm_features import (  # noqa: E402
    FEATURE_NAMES,
    dense_features,
    request_grams,
)
from redline.judges.refusal import CLASSES, RefusalModel  # noqa: E402
from redline.judges.refusal_features import features  # noqa: E402
from redline.judges.refusal_patterns import looks_like_refusal  # noqa: E402

DATA_DIRS = (HERE / "data", HERE / "team")
TEAM_SOURCES = {"team", "smollm2_attacks"}
"""The sources in ``team/``: written or labelled by the team."""
"""``data/``: public sources, rebuilt by build_data.py (not committed); ``team/``: ours."""
LABELS = HERE / "labels"
PACKAGE = ROOT / "src/redline/judges/data"
REFUSAL_CLASS = {"refused": "refusal", "partial": "partial", "complied": "compliance"}
WEAK_LABELLERS = {"substring": 0.3}
"""Refusal labels made by phrase matching teach phrase matching: they count for less."""
SOURCE_CAP = 2500.0
"""Each source's rows together weigh at most this much in the harm head (big sources are
scaled down, so a source of 6,000 rows does not drown one of 200)."""
MIN_WEIGHT = 0.02
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
"""Harm thresholds scored in leave-one-source-out; the best mean over sources is shipped."""


def read_rows() -> list[dict]:
    """Every row of every file in ``data/`` (``*.jsonl`` and ``*.jsonl.gz``)."""
    rows: list[dict] = []
    paths = sorted(p for folder in DATA_DIRS for p in folder.glob("*.jsonl*"))
    if not any(p.parent.name == "data" for p in paths):
        raise SystemExit(f"no public sources in {DATA_DIRS[0]}: run build_data.py first")
    for path in paths:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SystemExit(f"{path}:{number}: not JSON ({exc})") from exc
                if not row.get("response") or not isinstance(row["response"], str):
                    continue
                row.setdefault("behavior", row.get("prompt") or "")
                row["prompt"] = row.get("prompt") or row["behavior"]
                rows.append(row)
    return rows


def apply_labels(rows: list[dict], team_harm: bool = False) -> dict:
    """Merge the team's labels (``labels/*.jsonl``: ``{id, refusal, harm}``) into ``rows``.

    The team's refusal label replaces a source's (mostly keyword-made) one. Harm: by default
    each source keeps its own label (the team's is used only where a source has none). The
    team labelled on a stricter standard (the reply itself gives specific, usable substance):
    on stratified samples it agreed with nearly every source ``safe`` but with only 35-65% of
    the sources' ``unsafe`` labels. The sources' looser standard is the one people applied in
    the held-back jailbreak sets (the JailbreakBench artifacts are labelled by the Llama-3-70B
    judge that agrees with those people on 0.907), and a model trained on the team's standard
    found too few unsafe replies on held-out sources (balanced accuracy 0.63-0.75). With
    ``team_harm`` the team's harm labels replace the sources' and a source ``unsafe`` the team
    did not check is left out, for comparison.

    Returns how often the team agreed with each source's labels on the stratified samples
    (files not named ``*_unsafe.jsonl``, which hold only rows the sources called unsafe).
    """
    by_id = {r["id"]: r for r in rows}
    agreement: dict = defaultdict(Counter)
    checked: set[str] = set()
    for path in sorted(LABELS.glob("*.jsonl")):
        stratified = not path.stem.endswith("_unsafe")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            label = json.loads(line)
            row = by_id.get(label["id"])
            if row is None:
                continue  # a source that is not built here
            if label.get("refusal") not in REFUSAL_CLASS or label.get("harm") not in (
                "unsafe",
                "safe",
            ):
                raise SystemExit(f"{path}:{number}: refusal/harm label missing or invalid")
            tally = agreement[row["source"]]
            if stratified and row.get("refusal") in REFUSAL_CLASS:
                tally["refusal_same"] += (row["refusal"] == "complied") == (
                    label["refusal"] == "complied"
                )
                tally["refusal_compared"] += 1
            if stratified and row.get("harm") in ("unsafe", "safe"):
                tally[f"source_{row['harm']}"] += 1
                tally[f"source_{row['harm']}_team_same"] += row["harm"] == label["harm"]
            row["refusal"] = label["refusal"]
            if team_harm or row.get("harm") is None:
                row["harm"] = label["harm"]
            row["labeller"] = f"team+{row.get('labeller') or 'team'}"
            checked.add(row["id"])
    if team_harm:
        for row in rows:
            if (
                row.get("harm") == "unsafe"
                and row["id"] not in checked
                and row["labeller"] != "team"
                and row.get("split", "train") == "train"  # development sets keep their labels
            ):
                row["harm"] = None
    return {k: dict(v) for k, v in sorted(agreement.items())}


# -- refusal head -----------------------------------------------------------------------------


def refusal_training(rows: list[dict], generated_weight: float = 0.5):
    """(texts, labels, weights, counts) for the refusal head."""
    team = training_examples()
    texts = [e["response"] for e in team]
    labels = [e["label"] for e in team]
    weights = [1.0] * len(team)
    for e in generated_examples(4, 0):
        texts.append(e["response"])
        labels.append(e["label"])
        weights.append(generated_weight)
    for row in rows:
        if row.get("refusal") in REFUSAL_CLASS:
            texts.append(row["response"])
            labels.append(REFUSAL_CLASS[row["refusal"]])
            refusal_labeller = (row.get("labeller") or "").split("+")[0]
            weights.append(WEAK_LABELLERS.get(refusal_labeller, 1.0))
    generated = len(texts) - len(team) - sum(1 for r in rows if r.get("refusal") in REFUSAL_CLASS)
    counts = {
        "hand_written": len(team),
        "generated": generated,
        "real": len(texts) - len(team) - generated,
    }
    return texts, labels, weights, counts


def vectorize(texts: list[str], min_rows: int = 2):
    """A sparse matrix of binary n-gram features, keeping features seen in ``min_rows``+ rows."""
    from sklearn.feature_extraction import DictVectorizer

    sets = [features(t) for t in texts]
    counts = Counter(f for s in sets for f in s)
    keep = {f for f, n in counts.items() if n >= min_rows}
    vectorizer = DictVectorizer()
    matrix = vectorizer.fit_transform([dict.fromkeys(s & keep, 1) for s in sets])
    return vectorizer, matrix


def fit_refusal(texts, labels, weights, counts, c: float = 1.0) -> dict:
    """The refusal head's weights file (the format of ``refusal_classifier.json``)."""
    from sklearn.linear_model import LogisticRegression

    vectorizer, matrix = vectorize(texts)
    model = LogisticRegression(C=c, max_iter=3000)
    model.fit(matrix, labels, sample_weight=weights)
    order = [list(model.classes_).index(c) for c in CLASSES]
    table = {}
    for j, name in enumerate(vectorizer.get_feature_names_out()):
        row = [round(float(model.coef_[i][j]), 4) for i in order]
        if max(abs(w) for w in row) >= MIN_WEIGHT:
            table[str(name)] = row
    return {
        "classes": list(CLASSES),
        "intercept": [round(float(model.intercept_[i]), 4) for i in order],
        "weights": dict(sorted(table.items())),
        "meta": {
            "features": len(table),
            "trained_on": counts,
            "labels": dict(sorted(Counter(labels).items())),
        },
    }


# -- harm head --------------------------------------------------------------------------------


def source_weights(rows: list[dict]) -> list[float]:
    """Per-row weights: each source weighs at most :data:`SOURCE_CAP` rows, and the two harm
    classes weigh the same in all (on the team's standard only about one reply in ten is
    unsafe; unbalanced, the model learns to say "safe", and the held-back sets have more)."""
    sizes = Counter(r["source"] for r in rows)
    weights = [min(1.0, SOURCE_CAP / sizes[r["source"]]) for r in rows]
    totals = Counter()
    for r, w in zip(rows, weights, strict=True):
        totals[r["harm"]] += w
    scale = {label: sum(totals.values()) / (2 * total) for label, total in totals.items()}
    return [w * scale[r["harm"]] for r, w in zip(rows, weights, strict=True)]


def fit_text(texts, labels, weights, c: float = 0.5) -> dict:
    """The n-gram reply model: intercept and weights of log-odds(unsafe)."""
    from sklearn.linear_model import LogisticRegression

    vectorizer, matrix = vectorize(texts, min_rows=3)
    model = LogisticRegression(C=c, max_iter=3000)
    model.fit(matrix, [label == "unsafe" for label in labels], sample_weight=weights)
    table = {
        str(name): round(float(w), 4)
        for name, w in zip(vectorizer.get_feature_names_out(), model.coef_[0], strict=True)
        if abs(w) >= MIN_WEIGHT
    }
    weights = dict(sorted(table.items()))
    return {"intercept": round(float(model.intercept_[0]), 4), "weights": weights}


def text_logit(text_model: dict, reply: str) -> float:
    """Log-odds of the n-gram model (the judge's own sum)."""
    return linear_logit(text_model["intercept"], text_model["weights"], features(reply))


def out_of_fold_logits(rows, weights, folds: int = 5, seed: int = 0) -> list[float]:
    """Every row's n-gram log-odds from a model that did not see it (for stacking)."""
    from sklearn.model_selection import StratifiedKFold

    labels = [r["harm"] for r in rows]
    logits = [0.0] * len(rows)
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for train_idx, test_idx in splitter.split(rows, labels):
        model = fit_text(
            [rows[i]["response"] for i in train_idx],
            [labels[i] for i in train_idx],
            [weights[i] for i in train_idx],
        )
        for i in test_idx:
            logits[i] = text_logit(model, rows[i]["response"])
    return logits


CORE = ROOT / "src/redline/behaviors/data/core.jsonl"


def requests(rows: list[dict]) -> dict[str, bool]:
    """Every distinct request (behaviour text) with whether it is harmful.

    From the rows' ``benign`` flags and redline's own ``core`` set (harmful behaviours and
    their look-alikes); a text seen both ways counts as harmful.
    """
    harmful: dict[str, bool] = {}
    for r in rows:
        text = r["behavior"] or r["prompt"]
        harmful[text] = harmful.get(text, False) or not r.get("benign")
    for line in CORE.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        harmful[item["behavior"]] = harmful.get(item["behavior"], False) or not item.get("benign")
    return harmful


def fit_request(texts: list[str], labels: list[bool], c: float = 1.0) -> dict:
    """The request model: log-odds that a request asks for something harmful."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = DictVectorizer()
    matrix = vectorizer.fit_transform([dict.fromkeys(request_grams(t), 1) for t in texts])
    model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
    model.fit(matrix, labels)
    table = {
        str(name): round(float(w), 4)
        for name, w in zip(vectorizer.get_feature_names_out(), model.coef_[0], strict=True)
        if abs(w) >= MIN_WEIGHT
    }
    return {
        "intercept": round(float(model.intercept_[0]), 4),
        "weights": dict(sorted(table.items())),
    }


def request_logit(request_model: dict, text: str) -> float:
    """Log-odds of the request model (the judge's own sum)."""
    return linear_logit(request_model["intercept"], request_model["weights"], request_grams(text))


def out_of_fold_requests(harmful: dict[str, bool], seed: int = 0) -> dict[str, float]:
    """Every distinct request's log-odds from a model that did not see that request."""
    from sklearn.model_selection import StratifiedKFold

    texts = sorted(harmful)
    labels = [harmful[t] for t in texts]
    logits: dict[str, float] = {}
    for train_idx, test_idx in StratifiedKFold(5, shuffle=True, random_state=seed).split(
        texts, labels
    ):
        model = fit_request([texts[i] for i in train_idx], [labels[i] for i in train_idx])
        for i in test_idx:
            logits[texts[i]] = request_logit(model, texts[i])
    return logits


def dense(rows, logits, refusal: RefusalModel, request_logits: dict[str, float]):
    """The dense feature vectors of ``rows``."""
    return [
        dense_features(
            r["behavior"],
            r["prompt"],
            r["response"],
            refusal.probabilities,
            logit,
            looks_like_refusal(r["response"]),
            request_logits[r["behavior"] or r["prompt"]],
        )
        for r, logit in zip(rows, logits, strict=True)
    ]


def fit_trees(x, labels, weights, args) -> dict:
    """Gradient boosted trees of log-odds(unsafe), exported node by node."""
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier(
        n_estimators=args.trees,
        max_depth=args.depth,
        learning_rate=args.rate,
        subsample=0.8,
        min_samples_leaf=20,
        random_state=args.seed,
    )
    y = [label == "unsafe" for label in labels]
    model.fit(x, y, sample_weight=weights)
    prior = model.init_.class_prior_[1] if hasattr(model.init_, "class_prior_") else None
    if prior is None:  # sklearn's DummyClassifier(strategy="prior") keeps class_prior_
        prior = sum(w for w, t in zip(weights, y, strict=True) if t) / sum(weights)
    trees = []
    for (estimator,) in model.estimators_:
        tree = estimator.tree_
        trees.append(
            {
                "feature": [int(f) if f >= 0 else -1 for f in tree.feature],
                "threshold": [round(float(t), 6) for t in tree.threshold],
                "left": [int(n) for n in tree.children_left],
                "right": [int(n) for n in tree.children_right],
                "value": [round(float(v[0][0]), 6) for v in tree.value],
            }
        )
    return {
        "init": round(math.log(prior / (1 - prior)), 6),
        "learning_rate": args.rate,
        "trees": trees,
    }


def build_harm(rows: list[dict], refusal: RefusalModel, args, all_rows: list[dict]) -> dict:
    """The harm judge's weights file, trained on ``rows`` (those with a harm label).

    The request model learns from every distinct request in ``all_rows`` (labelled or not).
    """
    weights = source_weights(rows)
    logits = out_of_fold_logits(rows, weights, seed=args.seed)
    text = fit_text([r["response"] for r in rows], [r["harm"] for r in rows], weights)
    harmful = requests(all_rows)
    request = fit_request(list(harmful), list(harmful.values()))
    x = dense(rows, logits, refusal, out_of_fold_requests(harmful, args.seed))
    trees = fit_trees(x, [r["harm"] for r in rows], weights, args)
    return {
        "version": "",
        "feature_names": list(FEATURE_NAMES),
        "threshold": args.threshold or 0.5,
        "text": text,
        "request": request,
        "trees": trees,
    }


# -- evaluation -------------------------------------------------------------------------------


def balanced_accuracy(scores: list[tuple[float, str]], threshold: float) -> float:
    """Mean of the recalls of ``unsafe`` and ``safe`` (independent of how common each is)."""
    recalls = []
    for label in ("unsafe", "safe"):
        items = [p for p, truth in scores if truth == label]
        recalls.append(sum((p >= threshold) == (label == "unsafe") for p in items) / len(items))
    return sum(recalls) / 2


def agreement(model: HarmModel, rows: list[dict], threshold: float) -> dict:
    """Harm and refusal agreement of ``model`` on ``rows`` (each where labelled)."""
    harm_hits = harm_n = refusal_hits = refusal_n = 0
    confusion: Counter = Counter()
    for r in rows:
        reading = model.read(r["behavior"], r["prompt"], r["response"], 0.5)
        if r.get("harm") in ("unsafe", "safe"):
            guess = "unsafe" if reading.p_unsafe >= threshold else "safe"
            harm_n += 1
            harm_hits += guess == r["harm"]
            confusion[f"{r['harm']}->{guess}"] += 1
        if r.get("refusal") in REFUSAL_CLASS:
            refusal_n += 1
            refusal_hits += (reading.refusal == "compliance") == (r["refusal"] == "complied")
    out: dict = {}
    harm_rows = [r for r in rows if r.get("harm") in ("unsafe", "safe")]
    if harm_rows:
        scores = [
            (model.read(r["behavior"], r["prompt"], r["response"], 0.5).p_unsafe, r["harm"])
            for r in harm_rows
        ]
        out["harm_by_threshold"] = {
            str(t): round(
                sum((p >= t) == (label == "unsafe") for p, label in scores) / len(scores), 4
            )
            for t in THRESHOLDS
        }
        if {label for _, label in scores} == {"unsafe", "safe"}:
            out["harm_balanced_by_threshold"] = {
                str(t): round(balanced_accuracy(scores, t), 4) for t in THRESHOLDS
            }
    if harm_n:
        out["harm"] = {"n": harm_n, "agreement": round(harm_hits / harm_n, 4), **confusion}
    if refusal_n:
        out["refusal"] = {"n": refusal_n, "agreement": round(refusal_hits / refusal_n, 4)}
    return out


def leave_one_source_out(train: list[dict], args) -> dict:
    """Both heads retrained without each source, scored on it."""
    report = {}
    for source in sorted({r["source"] for r in train}):
        held = [r for r in train if r["source"] == source]
        rest = [r for r in train if r["source"] != source]
        started = time.monotonic()
        refusal_data = fit_refusal(*refusal_training(rest))
        refusal = RefusalModel(refusal_data)
        harm_rows = [r for r in rest if r.get("harm") in ("unsafe", "safe")]
        model = HarmModel(build_harm(harm_rows, refusal, args, rest), source, refusal)
        report[source] = agreement(model, held, args.threshold or 0.5)
        print(f"  without {source}: {report[source]} ({time.monotonic() - started:.0f} s)")
    return report


def choose_threshold(report: dict) -> float:
    """The harm threshold with the best mean leave-one-source-out balanced accuracy.

    The mean is over held-out public sources of real models' replies that have both labels
    (a one-label source, CoCoNot's helpful answers or the small model's rambling, cannot tell
    the two apart, and the team's written cases measure the writer's habits rather than real
    models'). Balanced accuracy, because how common unsafe replies are differs from set to set
    (about one in ten in these sources on the team's standard, a third or more in jailbreak
    benchmarks): the threshold should not bet on one base rate.
    """
    held = [
        f
        for source, f in report["leave_one_source_out"].items()
        if "harm_balanced_by_threshold" in f and source not in TEAM_SOURCES
    ]
    means = {
        t: sum(f["harm_balanced_by_threshold"][str(t)] for f in held) / len(held)
        for t in THRESHOLDS
    }
    chosen = max(THRESHOLDS, key=lambda t: (round(means[t], 4), -abs(t - 0.5)))
    report["threshold"] = {
        "chosen": chosen,
        "mean_loso_balanced_accuracy_public_sources": {
            str(t): round(m, 4) for t, m in means.items()
        },
    }
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=int, default=300)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="harm threshold [default: the best mean leave-one-source-out agreement, else 0.5]",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-loso", action="store_true", help="skip leave-one-source-out")
    parser.add_argument(
        "--team-harm",
        action="store_true",
        help="train harm on the team's (stricter) labels instead of the sources' own",
    )
    parser.add_argument("--out", type=Path, default=PACKAGE / "harm_classifier.json")
    parser.add_argument("--refusal-out", type=Path, default=PACKAGE / "refusal_classifier.json")
    args = parser.parse_args()

    rows = read_rows()
    label_agreement = apply_labels(rows, args.team_harm)
    train = [r for r in rows if r.get("split", "train") == "train"]
    dev = [r for r in rows if r.get("split") == "dev"]
    counts = defaultdict(Counter)
    for r in train:
        counts[r["source"]][f"harm:{r.get('harm')}"] += 1
        counts[r["source"]][f"refusal:{r.get('refusal')}"] += 1
    print(f"training rows: {len(train)}; development rows: {len(dev)}")
    report: dict = {
        "sources": {k: dict(sorted(v.items())) for k, v in sorted(counts.items())},
        "team_labels_vs_source_labels": label_agreement,
    }
    print(f"team labels against the sources' own: {label_agreement}")

    if not args.no_loso:
        print("leave-one-source-out:")
        report["leave_one_source_out"] = leave_one_source_out(train, args)

    if not args.no_loso and args.threshold is None:
        args.threshold = choose_threshold(report)
        print(f"threshold {args.threshold}: {report['threshold']}")
    elif args.threshold is None:
        args.threshold = 0.5
    refusal_data = fit_refusal(*refusal_training(train))
    refusal = RefusalModel(refusal_data)
    harm_rows = [r for r in train if r.get("harm") in ("unsafe", "safe")]
    data = build_harm(harm_rows, refusal, args, train)
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]
    data["version"] = f"harm-{time.strftime('%Y%m%d')}-{digest}"
    data["meta"] = {
        "trained_on": {
            k: sum(v[f"harm:{h}"] for h in ("unsafe", "safe")) for k, v in counts.items()
        },
        "trees": args.trees,
        "depth": args.depth,
        "learning_rate": args.rate,
        "seed": args.seed,
    }
    refusal_data["meta"]["trained_on_sources"] = sorted(
        {r["source"] for r in train if r.get("refusal") in REFUSAL_CLASS} | {"team corpus"}
    )
    refusal_bytes = (json.dumps(refusal_data, separators=(",", ":")) + "\n").encode()
    args.refusal_out.write_bytes(refusal_bytes)
    data["refusal_sha256"] = hashlib.sha256(refusal_bytes).hexdigest()
    args.out.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(
        f"wrote {args.out} ({len(data['text']['weights'])} n-gram weights, "
        f"{len(data['trees']['trees'])} trees) and {args.refusal_out}"
    )

    model = HarmModel(data, str(args.out), refusal)
    by_source = defaultdict(list)
    for r in dev:
        by_source[r["source"]].append(r)
    report["development"] = {
        s: agreement(model, items, args.threshold) for s, items in sorted(by_source.items())
    }
    for source, figures in report["development"].items():
        print(f"  dev {source}: {figures}")
    report["version"] = data["version"]
    (HERE / "last_report.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
