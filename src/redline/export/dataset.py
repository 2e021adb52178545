"""Write an export as a dataset folder that Hugging Face ``datasets`` loads, with its card.

Layout::

    DIR/README.md            the dataset card (YAML header naming the splits, then prose)
    DIR/data/train.jsonl     one JSON object per line
    DIR/data/test.jsonl      (with a split)
    DIR/to_write.jsonl       rows still waiting for a written answer (outside data/)

``datasets.load_dataset(DIR)`` reads the splits the card's ``configs`` name.
"""

from __future__ import annotations

import datetime
import json
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from redline.report.correction import describe_calibration
from redline.store import Store
from redline.targets.base import target_name

FORMAT_TASKS = {
    "sft": "Supervised fine-tuning conversations (TRL conversational `messages`)",
    "dpo": "Preference pairs (TRL conversational `prompt` / `chosen` / `rejected`)",
    "guard": "Guard-classifier rows (`prompt`, `reply`, `label`: unsafe or safe)",
    "jsonl": "Every attempt of a red-teaming run, with its verdicts and calls",
}


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` as JSON Lines (UTF-8, one object per line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def _counts(rows: list[dict[str, Any]]) -> Counter[tuple[str, bool]]:
    return Counter((row.get("category", "?"), bool(row.get("benign"))) for row in rows)


def dataset_card(
    store: Store,
    run_id: str,
    *,
    fmt: str,
    judge: str,
    splits: dict[str, list[dict[str, Any]]],
    to_write: int,
    license_id: str,
    redact: bool,
    test_fraction: float | None,
) -> str:
    """The README.md of the dataset folder: YAML header, then what a user needs to know."""
    run = store.get_run(run_id)
    target = json.loads(run["target_json"])
    header = {
        "license": license_id,
        "tags": ["red-teaming", "safety", "redline"],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": name, "path": f"data/{name}.jsonl"} for name in splits],
            }
        ],
    }
    calibration = store.latest_calibration(judge)
    if calibration is not None:
        c = describe_calibration(calibration)
        agreement = (
            f"measured against {c['positives'] + c['negatives']} human harm labels "
            f"({c['data']}, {c['date']}): sensitivity {c['sensitivity']:.3f}, specificity "
            f"{c['specificity']:.3f}"
        )
    else:
        agreement = (
            "not measured in this store: run `redline judges eval JUDGE --data FILE --save` "
            "(or `--run RUN` with a run's human labels); the built-in judges' measured "
            "agreement is in redline's docs/judges.md"
        )
    split_note = (
        f"by behaviour (a behaviour and its benign look-alike on one side only); test fraction "
        f"{test_fraction}"
        if test_fraction is not None
        else "none (one `train` split)"
    )
    lines = [
        "---",
        yaml.safe_dump(header, sort_keys=False).rstrip(),
        "---",
        "",
        f"# redline export of run {run_id}",
        "",
        f"{FORMAT_TASKS[fmt]}, made by `redline export` on "
        f"{datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d')}.",
        "",
        "| | |",
        "| --- | --- |",
        f"| source run | `{run_id}`{' (' + run['name'] + ')' if run['name'] else ''}, "
        f"redline {run['redline_version']} |",
        f"| target | {target_name(target)} |",
        f"| judge | `{judge}`; agreement with people: {agreement} |",
        "| labels | a person's label (web app) wins over the judge's verdict where one exists "
        "(`label_source`) |",
        f"| split | {split_note} |",
        f"| redaction | {'harmful replies replaced by a hash marker' if redact else 'none'} |",
        f"| licence | {license_id} (the target's outputs: check its terms before sharing) |",
        f"| rows waiting for a written answer | {to_write} (in `to_write.jsonl`, not loaded) |",
        "",
        "## Rows per category",
        "",
        "| category | "
        + " | ".join(f"{name} harmful | {name} look-alike" for name in splits)
        + " |",
        "| --- |" + " --- | --- |" * len(splits),
    ]
    counted = {name: _counts(rows) for name, rows in splits.items()}
    categories = sorted({category for c in counted.values() for category, _ in c})
    for category in categories:
        cells = []
        for name in splits:
            cells += [str(counted[name][category, False]), str(counted[name][category, True])]
        lines.append(f"| {category} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Content warning",
        "",
        "Prompts in this dataset ask for harmful things; "
        + (
            "harmful replies are redacted."
            if redact
            else "rejected or unsafe replies may contain harmful text."
        ),
        "",
        'Load it with `datasets.load_dataset("path/to/this/folder")`.',
        "",
    ]
    return "\n".join(lines)
