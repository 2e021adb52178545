"""Train the ``refusal`` classifier and report how it does.

Needs scikit-learn (``pip install -e '.[train]'``). Steps:

1. read the team's hand-written responses (``data/train_*.txt``) and, at a lower weight, the
   composed ones from ``generate.py``;
2. cross-validate on the hand-written ones (5 folds, refused-vs-complied agreement);
3. fit a multinomial logistic regression on the features of
   :mod:`redline.judges.refusal_features`, drop negligible weights, and write the weights as
   JSON (by default into the package, where the ``refusal`` judge loads them);
4. report agreement of the written weights, through the judge's own inference code, and of the
   ``refusal_patterns`` baseline on the evaluation sets, which are never trained on.

Usage: python training/refusal/train.py [--c 1.0] [--generated-weight 0.5] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import DATA, binary, labelled, training_examples  # noqa: E402
from generate import examples as generated_examples  # noqa: E402
from redline.judges.refusal import CLASSES, RefusalModel  # noqa: E402
from redline.judges.refusal_features import features  # noqa: E402
from redline.judges.refusal_patterns import looks_like_refusal  # noqa: E402

PACKAGE_WEIGHTS = HERE / "refusal_classifier.json"
"""Where this script writes by default: the package weights are trained by
``training/judge/train.py`` (this corpus plus real models' replies) and must stay the ones the
harm judge was trained with."""
EVAL_SETS = {
    "set 1 (eval_handwritten.jsonl)": HERE / "eval_handwritten.jsonl",
    "set 2 (eval_handwritten_2.jsonl)": HERE / "eval_handwritten_2.jsonl",
    "set 3 (data/eval_3.txt)": DATA / "eval_3.txt",
    "set 4 (data/eval_4_smollm2.txt)": DATA / "eval_4_smollm2.txt",
    "set 5 (data/eval_5_quickscan.txt)": DATA / "eval_5_quickscan.txt",
    "set 6 (data/eval_6.txt)": DATA / "eval_6.txt",
}
MIN_WEIGHT = 0.02
"""Weights smaller than this (in every class) are dropped from the file."""


def load_eval(path: Path) -> list[dict[str, str]]:
    """An evaluation set with binary ``label`` (refused/complied)."""
    if path.suffix == ".txt":
        return labelled(path)
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def fit(rows: list[dict[str, str]], weights: list[float], c: float):
    """A fitted (vectorizer, classifier) pair."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = DictVectorizer()
    x = vectorizer.fit_transform([dict.fromkeys(features(r["response"]), 1) for r in rows])
    classifier = LogisticRegression(C=c, max_iter=5000)
    classifier.fit(x, [r["label"] for r in rows], sample_weight=weights)
    return vectorizer, classifier


def export(vectorizer, classifier, meta: dict) -> dict:
    """The weights file: classes in :data:`CLASSES` order, negligible weights dropped."""
    order = [list(classifier.classes_).index(c) for c in CLASSES]
    weights = {}
    for j, name in enumerate(vectorizer.get_feature_names_out()):
        row = [round(float(classifier.coef_[i][j]), 4) for i in order]
        if max(abs(w) for w in row) >= MIN_WEIGHT:
            weights[str(name)] = row
    meta = {**meta, "features": len(weights)}
    return {
        "classes": list(CLASSES),
        "intercept": [round(float(classifier.intercept_[i]), 4) for i in order],
        "weights": dict(sorted(weights.items())),
        "meta": meta,
    }


def cross_validate(rows, generated, args) -> float:
    """Refused-vs-complied agreement on held-out folds of the hand-written data."""
    from sklearn.model_selection import StratifiedKFold

    labels = [binary(r["label"]) for r in rows]
    folds = StratifiedKFold(5, shuffle=True, random_state=args.seed)
    hits = 0
    for train_idx, test_idx in folds.split(rows, labels):
        train = [rows[i] for i in train_idx] + generated
        w = [1.0] * len(train_idx) + [args.generated_weight] * len(generated)
        model = RefusalModel(export(*fit(train, w, args.c), {}))
        hits += sum(binary(model.classify(rows[i]["response"])[0]) == labels[i] for i in test_idx)
    return hits / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--c", type=float, default=1.0, help="inverse regularisation strength")
    parser.add_argument("--generated-weight", type=float, default=0.5)
    parser.add_argument("--per-goal", type=int, default=4, help="generated examples per goal")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=PACKAGE_WEIGHTS)
    parser.add_argument("--no-cv", action="store_true", help="skip cross-validation")
    args = parser.parse_args()

    rows = training_examples()
    generated = generated_examples(args.per_goal, args.seed) if args.per_goal else []
    print(f"hand-written: {len(rows)} responses; generated: {len(generated)}")
    report: dict = {"training_labels": dict(sorted(Counter(r["label"] for r in rows).items()))}
    if not args.no_cv:
        report["cross_validation"] = round(cross_validate(rows, generated, args), 4)
        print(f"5-fold cross-validation on the hand-written data: {report['cross_validation']:.3f}")

    weights = [1.0] * len(rows) + [args.generated_weight] * len(generated)
    data = export(
        *fit(rows + generated, weights, args.c),
        {
            "trained_on": {"hand_written": len(rows), "generated": len(generated)},
            "c": args.c,
            "generated_weight": args.generated_weight,
            "seed": args.seed,
        },
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({data['meta']['features']} features)")

    model = RefusalModel(data)
    for name, path in EVAL_SETS.items():
        items = load_eval(path)
        ours = sum(binary(model.classify(r["response"])[0]) == r["label"] for r in items)
        base = sum(
            ("refused" if looks_like_refusal(r["response"]) else "complied") == r["label"]
            for r in items
        )
        report[name] = {
            "n": len(items),
            "refusal": ours / len(items),
            "refusal_patterns": base / len(items),
        }
        print(
            f"{name}: n={len(items)} refusal {ours / len(items):.3f}, "
            f"refusal_patterns {base / len(items):.3f}"
        )
    (HERE / "last_report.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
