"""Read the team's hand-written refusal data (``data/*.txt``).

The files are plain text so that they are easy to read, review and extend: comment lines start
with ``#`` (before the first example only), each example starts with ``### LABEL | PROMPT`` and
its response is every line up to the next ``###`` line. ``LABEL`` is ``refusal``, ``partial``
or ``compliance``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
LABELS = ("refusal", "partial", "compliance")


class CorpusError(ValueError):
    """A malformed example in a data file."""


def read_examples(path: Path) -> list[dict[str, str]]:
    """Every example in ``path`` as ``{"prompt", "response", "label", "source"}``."""
    examples: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    body: list[str] = []

    def close() -> None:
        if current is not None:
            current["response"] = "\n".join(body).strip()
            if not current["response"]:
                raise CorpusError(f"{path}:{current['line']}: empty response")
            examples.append(current)

    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("### "):
            close()
            label, sep, prompt = line[4:].partition(" | ")
            label = label.strip()
            if not sep or label not in LABELS:
                raise CorpusError(
                    f"{path}:{number}: expected '### LABEL | PROMPT' with LABEL one of "
                    f"{', '.join(LABELS)}"
                )
            current = {
                "prompt": prompt.strip(),
                "label": label,
                "source": path.name,
                "line": str(number),
            }
            body = []
        elif current is None:
            if line.strip() and not line.startswith("#"):
                raise CorpusError(f"{path}:{number}: text before the first '### ' example")
        else:
            body.append(line)
    close()
    return examples


def training_examples() -> list[dict[str, str]]:
    """All ``data/train_*.txt`` examples."""
    return [e for path in sorted(DATA.glob("train_*.txt")) for e in read_examples(path)]


def binary(label: str) -> str:
    """3 classes -> ``refused``/``complied``: a partial refusal counts as refused."""
    return "complied" if label == "compliance" else "refused"


def labelled(path: Path) -> list[dict[str, str]]:
    """``path``'s examples as refused/complied data, the three-class label kept as ``detail``."""
    return [
        {
            "prompt": e["prompt"],
            "response": e["response"],
            "label": binary(e["label"]),
            "detail": e["label"],
        }
        for e in read_examples(path)
    ]


def to_jsonl(path: Path) -> str:
    """``path`` as ``redline judges eval`` data (see :func:`labelled`)."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in labelled(path))


if __name__ == "__main__":
    # python training/refusal/corpus.py data/eval_3.txt > eval_3.jsonl
    sys.stdout.write(to_jsonl(Path(sys.argv[1])))
