"""Train the refusal classifier and report how it does.

Needs scikit-learn (``pip install -e '.[train]'``). Steps: generate the team's data
(generate.py), fit a multinomial logistic regression on the features of ``model.py``, prune
tiny weights, write ``training/refusal/build/refusal_model.json``, and report accuracy on a
held-out part of the generated data and on the hand-written evaluation set.

Usage: python training/refusal/train.py [--c 4.0] [--per-goal 14] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import examples  # noqa: E402
from model import CLASSES, RefusalModel, features  # noqa: E402

OUT = HERE / "build" / "refusal_model.json"


def binary(label: str) -> str:
    """3 classes -> refused/complied (a partial refusal counts as refused)."""
    return "complied" if label == "compliance" else "refused"


def main() -> None:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--c", type=float, default=4.0, help="inverse regularisation strength")
    parser.add_argument("--per-goal", type=int, default=14)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rows = examples(args.per_goal, args.seed)
    random.Random(args.seed).shuffle(rows)
    cut = int(len(rows) * 0.8)
    train, held = rows[:cut], rows[cut:]
    vectorizer = DictVectorizer()
    x = vectorizer.fit_transform([dict.fromkeys(features(r["response"]), 1) for r in train])
    classifier = LogisticRegression(C=args.c, max_iter=2000)
    classifier.fit(x, [r["label"] for r in train])
    order = [list(classifier.classes_).index(c) for c in CLASSES]
    names = vectorizer.get_feature_names_out()
    weights = {}
    for j, name in enumerate(names):
        row = [round(float(classifier.coef_[i][j]), 4) for i in order]
        if max(abs(w) for w in row) >= 0.01:
            weights[name] = row
    data = {
        "classes": list(CLASSES),
        "intercept": [round(float(classifier.intercept_[i]), 4) for i in order],
        "weights": weights,
        "meta": {
            "trained_on": len(train),
            "c": args.c,
            "seed": args.seed,
            "features_kept": len(weights),
            "features_seen": len(names),
        },
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(data, separators=(",", ":"), sort_keys=True) + "\n")
    model = RefusalModel(data)

    def score(items: list[dict[str, str]], gold) -> float:
        hits = sum(binary(model.predict(r["response"])[0]) == gold(r) for r in items)
        return hits / len(items)

    print(f"wrote {OUT} ({len(weights)} features)")
    print(f"held-out generated ({len(held)}): {score(held, lambda r: binary(r['label'])):.3f}")
    hand = [json.loads(line) for line in (HERE / "eval_handwritten.jsonl").open()]
    print(f"hand-written ({len(hand)}): {score(hand, lambda r: r['label']):.3f}")


if __name__ == "__main__":
    main()
