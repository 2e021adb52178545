"""Behaviour files read as a stream: the same rows, the same choices, the same errors."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path

import pytest

from redline.behaviors import BehaviorFile, _IdHashes, load_file, load_jsonl, select
from redline.config import BehaviorSource, load_behaviors
from redline.errors import DataError
from redline.model import Behavior


def reference_select(
    behaviors: Iterable[Behavior],
    *,
    categories: Iterable[str] | None = None,
    include_benign: bool = True,
    sample: int | None = None,
    per_category: int | None = None,
    seed: int = 0,
) -> list[Behavior]:
    """``select`` as it was before files were streamed (stored runs' plans depend on it)."""
    chosen = list(behaviors)
    if categories is not None:
        wanted = list(categories)
        chosen = [b for b in chosen if b.category in set(wanted)]
    rng = random.Random(seed)
    if per_category is not None:
        by_category: dict[str, list[Behavior]] = {}
        for b in chosen:
            if not b.benign:
                by_category.setdefault(b.category, []).append(b)
        keep = {
            b.id
            for group in by_category.values()
            for b in rng.sample(group, min(per_category, len(group)))
        }
        chosen = [b for b in chosen if b.id in keep or (b.benign and b.pair in keep)]
    if sample is not None:
        harmful = [b for b in chosen if not b.benign]
        keep = {b.id for b in rng.sample(harmful, min(sample, len(harmful)))}
        chosen = [b for b in chosen if b.id in keep or (b.benign and b.pair in keep)]
    if not include_benign:
        chosen = [b for b in chosen if not b.benign]
    return chosen


def write_file(path: Path, rows: int, *, seed: int, pairs_ahead: bool) -> None:
    """Harmful rows over 5 categories; a third have a look-alike, before or after them."""
    rng = random.Random(seed)
    lines = []
    for i in range(rows):
        category = f"c{rng.randrange(5)}"
        harmful = {"id": f"h{i}", "behavior": f"goal {i}", "category": category}
        if rng.random() < 0.33:
            twin = {"id": f"h{i}-benign", "behavior": f"fine {i}", "category": category}
            twin |= {"benign": True, "pair": f"h{i}"}
            harmful["pair"] = twin["id"]
            pair = [twin, harmful] if pairs_ahead and rng.random() < 0.5 else [harmful, twin]
            lines += pair
        else:
            lines.append(harmful)
        if rng.random() < 0.05:
            lines.append({})  # a blank line
    path.write_text("".join(json.dumps(r) + "\n" if r else "\n" for r in lines))


@pytest.mark.parametrize("pairs_ahead", [False, True])
def test_streamed_selection_is_the_list_selection(tmp_path: Path, pairs_ahead: bool):
    path = tmp_path / "b.jsonl"
    write_file(path, 300, seed=1, pairs_ahead=pairs_ahead)
    stream = load_file(path)
    assert isinstance(stream, BehaviorFile) and stream.pairs_ahead == pairs_ahead
    rows = load_jsonl(path)
    assert list(stream) == rows and len(stream) == len(rows)
    cases = [
        {},
        {"sample": 10},
        {"sample": 1000},
        {"per_category": 3},
        {"per_category": 4, "sample": 7},
        {"sample": 0},
        {"categories": ["c1", "c3"], "sample": 9},
        {"categories": ["c2"], "per_category": 5, "include_benign": False},
        {"include_benign": False, "sample": 12},
    ]
    for case in cases:
        for seed in (0, 1, 7, 12345):
            expected = reference_select(rows, seed=seed, **case)  # type: ignore[arg-type]
            assert select(stream, seed=seed, **case) == expected, (case, seed)  # type: ignore[arg-type]
            assert select(rows, seed=seed, **case) == expected, (case, seed)  # type: ignore[arg-type]


def test_csv_files_stream_and_select_the_same(tmp_path: Path):
    path = tmp_path / "b.csv"
    row = "goal {0},c{1},no,h{0},h{0}-b\nfine {0},c{1},yes,h{0}-b,h{0}\n"
    pairs = (row.format(i, i % 3) for i in range(40))
    path.write_text("goal,harm,look_alike,id,pair\n" + "".join(pairs))
    columns = {"behavior": "goal", "category": "harm", "benign": "look_alike"}
    stream = load_file(path, columns)
    rows = list(stream)
    assert len(rows) == 80 and rows[1].benign and rows[1].pair == "h0"
    for seed in range(5):
        assert select(stream, sample=6, seed=seed) == reference_select(rows, sample=6, seed=seed)


def test_errors_name_the_line_and_duplicates_are_found(tmp_path: Path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"behavior": "ok", "category": "x"}\n\n{"behavior": "no category"}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:3: missing or empty 'category'"):
        load_file(path)
    path.write_text('{"behavior": "ok", "category": "x"}\n[1]\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: expected a JSON object"):
        load_file(path)
    dup = tmp_path / "dup.jsonl"
    rows = [{"behavior": f"g{i}", "category": "x", "id": f"i{i}"} for i in range(3000)]
    rows.append({"behavior": "again", "category": "x", "id": "i17"})
    dup.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(DataError, match="behaviour id 'i17' appears more than once"):
        load_file(dup)
    with pytest.raises(DataError, match="unknown category 'y'"):
        select(_ok(tmp_path), categories=["y"])


def _ok(tmp_path: Path) -> BehaviorFile:
    path = tmp_path / "ok.jsonl"
    path.write_text('{"behavior": "ok", "category": "x"}\n')
    return load_file(path)


def test_id_hashes_grow_and_answer_membership():
    ids = _IdHashes()
    assert all(ids.add(f"id-{i}") for i in range(5000))
    assert not ids.add("id-42") and "id-4999" in ids and "id-5000" not in ids


def test_load_behaviors_samples_a_file_as_before(tmp_path: Path):
    path = tmp_path / "b.jsonl"
    write_file(path, 200, seed=3, pairs_ahead=True)
    source = BehaviorSource(file=str(path), sample=15)
    chosen = load_behaviors([source], seed=9)
    assert chosen == reference_select(load_jsonl(path), sample=15, seed=9)
