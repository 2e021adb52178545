from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from redline.behaviors import load_builtin, load_csv, load_file, load_jsonl, select
from redline.behaviors.taxonomy import CATEGORIES
from redline.errors import DataError
from redline.report.metrics import wilson_interval


def test_core_set_has_paired_harmful_and_benign_behaviours_over_ten_categories():
    core = load_builtin("core")
    harmful = [b for b in core if not b.benign]
    benign = {b.id: b for b in core if b.benign}
    assert len(harmful) >= 120 and len(benign) >= 120
    assert len({b.category for b in harmful}) >= 10
    for behavior in harmful:
        twin = benign[behavior.pair]
        assert twin.category == behavior.category and twin.pair == behavior.id
    assert {b.category for b in core} <= set(CATEGORIES)
    assert len({b.goal for b in core}) == len(core)


def test_core_set_is_big_enough_for_per_category_intervals_under_fifteen_points():
    core = load_builtin("core")
    harmful = Counter(b.category for b in core if not b.benign)
    benign = Counter(b.category for b in core if b.benign)
    assert min(harmful.values()) >= 40 and min(benign.values()) >= 40
    assert set(harmful) == set(benign)
    smallest = min(min(harmful.values()), min(benign.values()))
    # the widest Wilson interval (at a rate of one half) of the smallest category, one attack
    low, high = wilson_interval(smallest // 2, smallest)
    assert (high - low) / 2 < 0.15


def test_every_category_is_mapped_to_at_least_one_public_taxonomy():
    for category in CATEGORIES.values():
        assert category.mlcommons or category.owasp, category.name


def test_jsonl_loader_reads_optional_fields_and_names_bad_lines(tmp_path: Path):
    good = tmp_path / "b.jsonl"
    good.write_text(
        '{"behavior": "Do a bad thing", "category": "x", "id": "one", "tags": ["a"]}\n'
        "\n"
        '{"behavior": "Do a fine thing", "category": "x", "benign": true}\n'
    )
    first, second = load_jsonl(good)
    assert first.id == "one" and first.tags == ("a",) and not first.benign
    assert second.benign and second.id.startswith("b-")

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"behavior": "ok", "category": "x"}\n{"behavior": "no category"}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: missing or empty 'category'"):
        load_jsonl(bad)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"behavior": "ok", "category": "x"}\n{not json\n')
    with pytest.raises(DataError, match=r"broken\.jsonl:2: not valid JSON"):
        load_jsonl(broken)


def test_csv_loader_maps_columns(tmp_path: Path):
    path = tmp_path / "b.csv"
    path.write_text("goal,harm,look_alike\nDo a bad thing,cyber,no\nDo a fine thing,cyber,yes\n")
    rows = load_csv(path, {"behavior": "goal", "category": "harm", "benign": "look_alike"})
    assert [(r.goal, r.category, r.benign) for r in rows] == [
        ("Do a bad thing", "cyber", False),
        ("Do a fine thing", "cyber", True),
    ]
    with pytest.raises(DataError, match="no column 'prompt'"):
        load_csv(path, {"behavior": "prompt", "category": "harm"})


def test_duplicate_ids_and_missing_files_are_errors(tmp_path: Path):
    path = tmp_path / "dup.jsonl"
    path.write_text(
        '{"behavior": "a", "category": "x", "id": "1"}\n'
        '{"behavior": "b", "category": "x", "id": "1"}\n'
    )
    with pytest.raises(DataError, match="appears more than once"):
        load_jsonl(path)
    with pytest.raises(DataError, match="does not exist"):
        load_file(tmp_path / "nope.jsonl")


def test_per_category_sampling_keeps_paired_look_alikes_and_is_seeded():
    core = load_builtin("core")
    chosen = select(core, per_category=2, seed=7)
    harmful = [b for b in chosen if not b.benign]
    assert Counter(b.category for b in harmful) == {c: 2 for c in {b.category for b in core}}
    assert {b.pair for b in chosen if b.benign} == {b.id for b in harmful}
    assert chosen == select(core, per_category=2, seed=7)
    assert chosen != select(core, per_category=2, seed=8)
