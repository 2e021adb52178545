"""Behaviour sets: the built-in ``core`` set and loaders for users' JSONL and CSV files.

JSONL: one object per line with ``behavior`` (the goal), ``category``, and optionally ``id``,
``benign`` (true for a look-alike that should be answered), ``tags`` and ``pair``.
CSV: a header row, and a ``columns`` mapping from those field names to the file's column names.
"""

from __future__ import annotations

import csv
import hashlib
import random
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from redline.datafiles import iter_jsonl_objects
from redline.errors import DataError
from redline.model import Behavior

BUILTIN_SETS = ("core",)
FIELDS = ("behavior", "category", "id", "benign", "tags", "pair")
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


def _as_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise DataError(f"{where}: 'benign' must be true or false, got {value!r}")


def _as_tags(value: Any, where: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(t.strip() for t in value.replace(";", ",").split(",") if t.strip())
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return tuple(value)
    raise DataError(f"{where}: 'tags' must be a list of strings or a comma-separated string")


def behavior_from_record(record: Mapping[str, Any], where: str) -> Behavior:
    """Validate one record (a JSON object or a mapped CSV row) into a :class:`Behavior`."""
    goal = record.get("behavior")
    category = record.get("category")
    if not isinstance(goal, str) or not goal.strip():
        raise DataError(f"{where}: missing or empty 'behavior' (the goal text)")
    if not isinstance(category, str) or not category.strip():
        raise DataError(f"{where}: missing or empty 'category'")
    raw_id = record.get("id")
    ident = str(raw_id).strip() if raw_id not in (None, "") else ""
    if not ident:
        ident = "b-" + hashlib.sha256(f"{category}\n{goal}".encode()).hexdigest()[:12]
    pair = record.get("pair")
    return Behavior(
        id=ident,
        goal=goal.strip(),
        category=category.strip(),
        benign=_as_bool(record.get("benign"), where),
        tags=_as_tags(record.get("tags"), where),
        pair=str(pair) if pair not in (None, "") else None,
    )


def load_jsonl(path: Path) -> list[Behavior]:
    """Load behaviours from a JSONL file; errors name the file and line."""
    behaviors = [
        behavior_from_record(record, f"{path}:{number}")
        for number, record in iter_jsonl_objects(path)
    ]
    return _check_unique(behaviors, str(path))


def load_csv(path: Path, columns: Mapping[str, str] | None = None) -> list[Behavior]:
    """Load behaviours from a CSV file with a header row, mapping columns to fields."""
    mapping = {field: field for field in FIELDS} | dict(columns or {})
    unknown = set(mapping) - set(FIELDS)
    if unknown:
        raise DataError(f"{path}: unknown field(s) in columns mapping: {sorted(unknown)}")
    start = 1  # the line the record being read starts on
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            # strict: a quote that is never closed is an error, not a field that swallows the
            # rows after it
            reader = csv.DictReader(handle, strict=True)
            header = reader.fieldnames or []
            for required in ("behavior", "category"):
                if mapping[required] not in header:
                    raise DataError(
                        f"{path}: no column {mapping[required]!r} for {required!r} "
                        f"(columns are: {', '.join(header) or 'none'})"
                    )
            behaviors = []
            start = reader.line_num + 1
            for row in reader:
                where = f"{path}:{start}"
                _check_row(row, header, mapping, where)
                behaviors.append(
                    behavior_from_record(
                        {f: row.get(col) for f, col in mapping.items() if col in header}, where
                    )
                )
                start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(
            f"{path}:{start}: malformed CSV record starting on this line ({exc}): look for a "
            'quote that is opened and never closed (a quote inside a field is written "")'
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read behaviour file {path}: {exc}") from exc
    return _check_unique(behaviors, str(path))


def _check_row(
    row: Mapping[Any, Any], header: Sequence[str], mapping: Mapping[str, str], where: str
) -> None:
    """Catch rows that a stray quote merged or split.

    Surplus fields, a line break inside a one-line field (category, id, benign, tags, pair),
    or a goal whose extra lines read as rows of their own are errors.
    """
    surplus = row.get(None) or []  # DictReader files surplus fields under the key None
    if any(str(value).strip() for value in surplus):
        raise DataError(
            f"{where}: {len(header) + len(surplus)} fields, the header has {len(header)} "
            "(quote fields that contain commas)"
        )
    for field, column in mapping.items():
        value = row.get(column)
        if not isinstance(value, str) or "\n" not in value:
            continue
        if field != "behavior" or _looks_like_rows(value, len(header)):
            raise DataError(
                f"{where}: the quoted field {column!r} runs over several lines"
                + (" that read as rows of their own" if field == "behavior" else "")
                + ": a quote is probably not closed on this line"
            )


def _looks_like_rows(value: str, columns: int) -> bool:
    """Whether the extra lines of a multi-line field (two or more) read as CSV rows."""
    lines = [line for line in value.splitlines()[1:] if line.strip()]
    if len(lines) < 2 or columns < 2:
        return False
    return all(len(fields) == columns for fields in csv.reader(lines))


def builtin_names() -> tuple[str, ...]:
    """Every built-in set: ``core`` and the public sets (:mod:`redline.behaviors.public`)."""
    from redline.behaviors.public import PUBLIC_SETS

    return BUILTIN_SETS + tuple(PUBLIC_SETS)


def load_builtin(name: str, file: str | Path | None = None) -> list[Behavior]:
    """Load a built-in set: ``core``, or a public set from ``file`` (its original format).

    A public set that ships with redline is read from its shipped copy when ``file`` is None.
    """
    if name not in builtin_names():
        raise DataError(
            f"unknown built-in behaviour set {name!r} (known: {', '.join(builtin_names())})"
        )
    if name not in BUILTIN_SETS:
        from redline.behaviors.public import load_public

        return load_public(name, file)
    if file is not None:
        raise DataError(f"the built-in set {name!r} takes no 'file'")
    resource = resources.files("redline.behaviors") / "data" / f"{name}.jsonl"
    with resources.as_file(resource) as path:
        return load_jsonl(Path(path))


def _check_unique(behaviors: list[Behavior], where: str) -> list[Behavior]:
    seen: set[str] = set()
    for behavior in behaviors:
        if behavior.id in seen:
            raise DataError(f"{where}: behaviour id {behavior.id!r} appears more than once")
        seen.add(behavior.id)
    return behaviors


def load_file(path: str | Path, columns: Mapping[str, str] | None = None) -> list[Behavior]:
    """Load a user file by its extension (``.jsonl``/``.json`` or ``.csv``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"behaviour file {path} does not exist")
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return load_jsonl(path)
    if path.suffix.lower() == ".csv":
        return load_csv(path, columns)
    raise DataError(f"behaviour file {path}: unsupported extension (use .jsonl or .csv)")


class UnknownCategoryError(DataError):
    """A category filter names a category that no behaviour of the set has."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position
        """Where the unknown category is in the filter's list."""


def select(
    behaviors: Iterable[Behavior],
    *,
    categories: Iterable[str] | None = None,
    include_benign: bool = True,
    sample: int | None = None,
    per_category: int | None = None,
    seed: int = 0,
) -> list[Behavior]:
    """Filter by category, optionally drop look-alikes, and sample harmful behaviours.

    ``sample`` keeps that many harmful behaviours (chosen with ``seed``), ``per_category`` at
    most that many per category; the paired look-alikes of the kept behaviours stay, so
    over-refusal is measured on the same topics. A category that no behaviour has is an
    :class:`UnknownCategoryError` (a typo would otherwise silently select less).
    """
    chosen = list(behaviors)
    if categories is not None:
        wanted = list(categories)
        known = sorted({b.category for b in chosen})
        for position, category in enumerate(wanted):
            if category not in known:
                raise UnknownCategoryError(
                    f"unknown category {category!r} (this set has: {', '.join(known)})", position
                )
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
