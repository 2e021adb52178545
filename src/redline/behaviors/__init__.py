"""Behaviour sets: the built-in ``core`` set and loaders for users' JSONL and CSV files.

JSONL: one object per line with ``behavior`` (the goal), ``category``, and optionally ``id``,
``benign`` (true for a look-alike that should be answered), ``tags``, ``pair`` and ``scenario``
(an application scenario: :mod:`redline.apps.scenario`; the built-in ``apps`` set has one on
every behaviour).
CSV: a header row, and a ``columns`` mapping from those field names to the file's column names.

A user's file is read as a stream (:func:`load_file` returns a :class:`BehaviorFile`): rows are
validated and counted in one pass, and :func:`select` picks from a second one, so a file of a
million rows with ``sample:`` is read in bounded memory and picks the same rows as a list would.
"""

from __future__ import annotations

import csv
import hashlib
import random
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from redline.datafiles import iter_jsonl_objects
from redline.errors import DataError
from redline.model import Behavior

BUILTIN_SETS = ("core", "apps")
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
    benign = _as_bool(record.get("benign"), where)
    scenario = record.get("scenario")
    if scenario is not None:
        from redline.apps.scenario import parse_scenario

        scenario = parse_scenario(scenario, where, benign=benign).model_dump(
            mode="json", exclude_defaults=True
        )
    return Behavior(
        id=ident,
        goal=goal.strip(),
        category=category.strip(),
        benign=benign,
        tags=_as_tags(record.get("tags"), where),
        pair=str(pair) if pair not in (None, "") else None,
        scenario=scenario,
    )


def iter_jsonl(path: Path) -> Iterator[tuple[int, Behavior]]:
    """Yield ``(line number, behaviour)`` for every non-blank line, reading as a stream.

    A line that is not a valid behaviour, or a file that cannot be read, is a
    :class:`DataError` naming ``FILE:LINE``. Ids are not checked here (see :func:`load_jsonl`).
    """
    for number, record in iter_jsonl_objects(path):
        yield number, behavior_from_record(record, f"{path}:{number}")


def load_jsonl(path: Path) -> list[Behavior]:
    """Load behaviours from a JSONL file; errors name the file and line."""
    return check_unique([b for _, b in iter_jsonl(path)], str(path))


def iter_csv(
    path: Path, columns: Mapping[str, str] | None = None
) -> Iterator[tuple[int, Behavior]]:
    """Yield ``(line number, behaviour)`` for every record of a CSV file, reading as a stream.

    The file has a header row; ``columns`` maps fields to its column names. Ids are not
    checked here (see :func:`load_csv`).
    """
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
            start = reader.line_num + 1
            for row in reader:
                where = f"{path}:{start}"
                _check_row(row, header, mapping, where)
                yield (
                    start,
                    behavior_from_record(
                        {f: row.get(col) for f, col in mapping.items() if col in header}, where
                    ),
                )
                start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(
            f"{path}:{start}: malformed CSV record starting on this line ({exc}): look for a "
            'quote that is opened and never closed (a quote inside a field is written "")'
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read behaviour file {path}: {exc}") from exc


def load_csv(path: Path, columns: Mapping[str, str] | None = None) -> list[Behavior]:
    """Load behaviours from a CSV file with a header row, mapping columns to fields."""
    return check_unique([b for _, b in iter_csv(path, columns)], str(path))


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


def check_unique(behaviors: list[Behavior], where: str) -> list[Behavior]:
    """``behaviors`` when no id appears twice; a :class:`DataError` naming ``where`` if one does."""
    seen: set[str] = set()
    for behavior in behaviors:
        if behavior.id in seen:
            raise DataError(f"{where}: behaviour id {behavior.id!r} appears more than once")
        seen.add(behavior.id)
    return behaviors


class _IdHashes:
    """A set of ids kept as 64-bit hashes in one array (8 bytes a slot, open addressing).

    A million ids take 16 MB instead of ~90 MB as a set of strings. ``add`` answering False
    means the id is very probably there already: the caller confirms before calling it a
    duplicate. ``in`` may answer True for an id never added, with a chance of about one in
    10^13 for a million ids.
    """

    def __init__(self) -> None:
        self._slots = array("Q", bytes(8 * 1024))
        self._mask = 1023
        self._used = 0

    @staticmethod
    def _key(ident: str) -> int:
        return (hash(ident) & 0xFFFFFFFFFFFFFFFF) or 1  # 0 marks an empty slot

    def _find(self, key: int) -> int:
        slots, mask = self._slots, self._mask
        slot = key & mask
        while slots[slot] and slots[slot] != key:
            slot = (slot + 1) & mask
        return slot

    def __contains__(self, ident: object) -> bool:
        return isinstance(ident, str) and bool(self._slots[self._find(self._key(ident))])

    def add(self, ident: str) -> bool:
        """Add ``ident``; False when its hash is there already."""
        key = self._key(ident)
        slot = self._find(key)
        if self._slots[slot]:
            return False
        self._slots[slot] = key
        self._used += 1
        if 2 * self._used > self._mask:
            old = self._slots
            self._slots = array("Q", bytes(16 * len(old)))
            self._mask = 2 * len(old) - 1
            for key in old:
                if key:
                    self._slots[self._find(key)] = key
        return True


class BehaviorFile(Sequence[Behavior]):
    """A user's behaviour file, read as a stream each time it is iterated.

    Building one reads the file once: every row is validated (errors name ``FILE:LINE``), ids
    are checked to be unique (keeping hashes of the ids, not the rows) and the counts that
    :func:`select` needs are taken. Iterating reads the file again; so does indexing, which
    is meant for small files (``list(...)`` one that is read by position).
    """

    def __init__(self, path: Path, columns: Mapping[str, str] | None = None) -> None:
        self.path = path
        self.columns = dict(columns) if columns is not None else None
        self.categories: set[str] = set()
        """Every category of the file's rows."""
        self.harmful_counts: dict[str, int] = {}
        """Harmful rows per category, in the order each category first has one."""
        self.pairs_ahead = False
        """Whether a look-alike names a ``pair`` not seen above it (a later row, or none)."""
        self._count = 0
        ids = _IdHashes()
        for number, behavior in self._rows():
            if not ids.add(behavior.id) and self._appears_above(behavior.id, number):
                raise DataError(f"{path}: behaviour id {behavior.id!r} appears more than once")
            self._count += 1
            self.categories.add(behavior.category)
            if not behavior.benign:
                counts = self.harmful_counts
                counts[behavior.category] = counts.get(behavior.category, 0) + 1
            elif behavior.pair is not None and behavior.pair not in ids:
                self.pairs_ahead = True

    def _rows(self) -> Iterator[tuple[int, Behavior]]:
        if self.path.suffix.lower() == ".csv":
            return iter_csv(self.path, self.columns)
        return iter_jsonl(self.path)

    def _appears_above(self, ident: str, line: int) -> bool:
        return any(b.id == ident for number, b in self._rows() if number < line)

    def __iter__(self) -> Iterator[Behavior]:
        return (behavior for _, behavior in self._rows())

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: Any) -> Any:
        return list(self)[index]

    def __repr__(self) -> str:
        return f"BehaviorFile({str(self.path)!r}, {self._count} behaviours)"


def load_file(path: str | Path, columns: Mapping[str, str] | None = None) -> BehaviorFile:
    """Open a user file by its extension (``.jsonl``/``.json``/``.ndjson`` or ``.csv``).

    The file is validated now and read as a stream when iterated (:class:`BehaviorFile`).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"behaviour file {path} does not exist")
    if path.suffix.lower() not in (".jsonl", ".json", ".ndjson", ".csv"):
        raise DataError(f"behaviour file {path}: unsupported extension (use .jsonl or .csv)")
    return BehaviorFile(path, columns)


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

    A :class:`BehaviorFile` is read as a stream and picks exactly the rows its list would.
    """
    if isinstance(behaviors, BehaviorFile):
        return _select_stream(
            behaviors,
            categories=categories,
            include_benign=include_benign,
            sample=sample,
            per_category=per_category,
            seed=seed,
        )
    chosen = list(behaviors)
    if categories is not None:
        wanted = list(categories)
        _check_categories(wanted, {b.category for b in chosen})
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


def _check_categories(wanted: Sequence[str], present: set[str]) -> None:
    known = sorted(present)
    for position, category in enumerate(wanted):
        if category not in present:
            raise UnknownCategoryError(
                f"unknown category {category!r} (this set has: {', '.join(known)})", position
            )


def _select_stream(
    source: BehaviorFile,
    *,
    categories: Iterable[str] | None,
    include_benign: bool,
    sample: int | None,
    per_category: int | None,
    seed: int,
) -> list[Behavior]:
    """:func:`select` over a file read as a stream, choosing the same rows as the list path.

    ``random.sample`` picks positions from the population's length alone, so the same calls
    over ``range(count)``, with the counts of the file's first pass, give the positions the
    list path would take. One more pass keeps the rows at those positions, and the look-alikes
    paired with them; when a look-alike comes before its pair, a pass first collects the ids.
    """
    wanted: set[str] | None = None
    if categories is not None:
        listed = list(categories)
        _check_categories(listed, source.categories)
        wanted = set(listed)

    def in_scope(b: Behavior) -> bool:
        return (wanted is None or b.category in wanted) and (include_benign or not b.benign)

    if per_category is None and sample is None:
        return [b for b in source if in_scope(b)]
    counts = {c: n for c, n in source.harmful_counts.items() if wanted is None or c in wanted}
    rng = random.Random(seed)
    per_group: dict[str, set[int]] | None = None
    total = sum(counts.values())
    if per_category is not None:
        per_group = {c: set(rng.sample(range(n), min(per_category, n))) for c, n in counts.items()}
        total = sum(len(picked) for picked in per_group.values())
    ranks = set(rng.sample(range(total), min(sample, total))) if sample is not None else None

    def chooser() -> Callable[[str], bool]:
        """Whether the next harmful row in scope, of this category, is kept."""
        seen: dict[str, int] = {}
        rank = 0

        def kept(category: str) -> bool:
            nonlocal rank
            if per_group is not None:
                position = seen.get(category, 0)
                seen[category] = position + 1
                if position not in per_group[category]:
                    return False
            rank += 1
            return ranks is None or rank - 1 in ranks

        return kept

    keep: set[str] = set()
    if source.pairs_ahead:
        decide = chooser()
        keep = {
            b.id
            for b in source
            if not b.benign and (wanted is None or b.category in wanted) and decide(b.category)
        }
        return [b for b in source if in_scope(b) and (b.pair in keep if b.benign else b.id in keep)]
    chosen = []
    decide = chooser()
    for b in source:
        if wanted is not None and b.category not in wanted:
            continue
        if not b.benign:
            if decide(b.category):
                keep.add(b.id)
                chosen.append(b)
        elif include_benign and b.pair in keep:
            chosen.append(b)
    return chosen
