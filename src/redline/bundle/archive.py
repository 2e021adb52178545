"""Write, verify and import findings bundles (see :mod:`redline.bundle`)."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from collections.abc import Iterable
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select

from redline.errors import DataError
from redline.report.text import redacted
from redline.store import Store, schema

FORMAT = "redline-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"

TABLES: dict[str, Table] = {
    "attempts": schema.attempts,
    "calls": schema.calls,
    "verdicts": schema.verdicts,
    "components": schema.components,
    "human_labels": schema.human_labels,
}
"""Members holding one table's rows of the run (``run_id`` in every row)."""

CORE_LICENCE = "Apache-2.0 (written by the redline team; goals, not instructions)"


class BundleError(DataError):
    """A bundle that cannot be read, or does not match its manifest."""


def _jsonl(rows: Iterable[dict[str, Any]]) -> bytes:
    return "".join(
        json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows
    ).encode()


def _rows(store: Store, table: Table, run_id: str) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [
            dict(r._mapping) for r in conn.execute(select(table).where(table.c.run_id == run_id))
        ]


def _unsafe_ids(verdicts: list[dict[str, Any]], judge: str | None) -> set[str]:
    return {v["attempt_id"] for v in verdicts if v["judge"] == judge and v["outcome"] == "unsafe"}


def _redact_attempt(attempt: dict[str, Any]) -> dict[str, Any]:
    transcript = json.loads(attempt["transcript_json"])
    for message in transcript.get("messages", []):
        if message.get("role") == "assistant":
            message["content"] = redacted(str(message.get("content") or ""))
    transcript.pop("meta", None)  # attack logs can quote the target's replies
    return {**attempt, "transcript_json": json.dumps(transcript, ensure_ascii=False)}


def _licence(builtin: str | None) -> str:
    """The licence of a built-in behaviour set (the public sets' as recorded for them)."""
    from redline.behaviors.public import PUBLIC_SETS

    if builtin == "core":
        return CORE_LICENCE
    if builtin in PUBLIC_SETS:
        return PUBLIC_SETS[builtin].licence
    return "as given by its owner (not recorded)"


def _behaviour_sources(config: dict[str, Any]) -> list[dict[str, Any]]:
    sources = []
    for item in config.get("behaviors") or []:
        if isinstance(item, str):
            item = (
                {"builtin": item.split(":", 1)[1]}
                if item.startswith("builtin:")
                else {"file": item}
            )
        name = item.get("builtin")
        sources.append(
            {
                "source": f"builtin:{name}" if name else str(item.get("file")),
                "licence": _licence(name),
            }
        )
    return sources


AGREEMENT_KEYS = ("sensitivity", "specificity", "positives", "negatives", "data_name", "created_at")


def _judges(
    configured: list[str], verdicts: list[dict[str, Any]], calibrations: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each judge with verdicts in the bundle, and its latest measured agreement (or None)."""
    measured = {c["judge"]: {k: c[k] for k in AGREEMENT_KEYS} for c in calibrations}
    labels = sorted({row["judge"] for row in verdicts} | set(configured))
    return [{"label": label, "agreement": measured.get(label)} for label in labels]


def export_bundle(
    store: Store,
    run_id: str,
    path: str | Path,
    *,
    redact: bool = False,
    only_unsafe: bool = False,
) -> dict[str, Any]:
    """Write run ``run_id`` of ``store`` as a bundle at ``path``; returns the manifest.

    ``only_unsafe`` keeps the attempts the run's first judge found unsafe (with their calls,
    verdicts and labels); ``redact`` replaces the target's replies of unsafe attempts by a hash
    marker and drops their judges' raw outputs and the attacks' logs.
    """
    run = store.get_run(run_id)
    judges = json.loads(run["judges_json"])
    rows = {name: _rows(store, table, run_id) for name, table in TABLES.items()}
    unsafe = _unsafe_ids(rows["verdicts"], judges[0] if judges else None)
    if only_unsafe:
        for name in ("attempts", "calls", "verdicts", "human_labels"):
            key = "id" if name == "attempts" else "attempt_id"
            rows[name] = [row for row in rows[name] if row[key] in unsafe]
    if redact:
        rows["attempts"] = [
            _redact_attempt(a) if a["id"] in unsafe else a for a in rows["attempts"]
        ]
        rows["verdicts"] = [
            {**v, "raw": None} if v["attempt_id"] in unsafe else v for v in rows["verdicts"]
        ]
    for label in rows["human_labels"]:
        label.pop("id", None)  # the importing store numbers its own
    calibrations = []
    for judge in {row["judge"] for row in rows["verdicts"]}:
        found = store.latest_calibration(judge)
        if found is not None:
            calibrations.append({k: v for k, v in found.items() if k != "id"})
    members = {
        "run.json": json.dumps(run, ensure_ascii=False, sort_keys=True, indent=1).encode(),
        "calibrations.jsonl": _jsonl(calibrations),
        **{f"{name}.jsonl": _jsonl(table_rows) for name, table_rows in rows.items()},
    }
    config = json.loads(run["config_json"])
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "redline_version": package_version("redline"),
        "created_at": time.time(),
        "run_id": run_id,
        "run_name": run["name"],
        "run_redline_version": run["redline_version"],
        "config": config,
        "target": json.loads(run["target_json"]),
        "judges": _judges(judges, rows["verdicts"], calibrations),
        "behaviors": _behaviour_sources(config),
        "selection": {"only": "unsafe" if only_unsafe else "all", "redacted": redact},
        "counts": {name: len(table_rows) for name, table_rows in rows.items()}
        | {"unsafe": len(unsafe & {a["id"] for a in rows["attempts"]})},
        "members": {name: hashlib.sha256(data).hexdigest() for name, data in members.items()},
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1))
        for name, data in members.items():
            archive.writestr(name, data)
    return manifest


def _open(path: str | Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and the verified members of the bundle at ``path``."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if MANIFEST not in names:
                raise BundleError(f"{path}: not a redline bundle (no {MANIFEST})")
            manifest = json.loads(archive.read(MANIFEST))
            members = {name: archive.read(name) for name in names - {MANIFEST}}
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"{path}: cannot read the bundle: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}: {MANIFEST} is not JSON: {exc}") from exc
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{path}: not a {FORMAT} version {FORMAT_VERSION} "
            f"(format {manifest.get('format')!r}, version {manifest.get('format_version')!r})"
        )
    expected = manifest.get("members") or {}
    if set(expected) != set(members):
        extra, missing = set(members) - set(expected), set(expected) - set(members)
        raise BundleError(
            f"{path}: its members do not match its manifest (not listed: {sorted(extra)}; "
            f"missing: {sorted(missing)}): refusing a tampered or broken bundle"
        )
    for name, data in members.items():
        if hashlib.sha256(data).hexdigest() != expected[name]:
            raise BundleError(
                f"{path}: member {name} does not match its SHA-256 in the manifest: "
                "refusing a tampered or corrupted bundle (nothing was imported)"
            )
    return manifest, members


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of the bundle at ``path``, after verifying every member's checksum."""
    return _open(path)[0]


def _decode(name: str, data: bytes) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise BundleError(f"{name}:{number}: not JSON: {exc}") from exc
    return rows


def _storable(store: Store, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with its text made storable in ``store`` (see its sanitizer)."""
    return {k: store.sanitizer.text(v) if isinstance(v, str) else v for k, v in row.items()}


def _without_id(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "id"}


def _primary_key(table: Table) -> list[str]:
    return [column.name for column in table.primary_key.columns]


def import_bundle(store: Store, path: str | Path) -> dict[str, Any]:
    """Merge the bundle at ``path`` into ``store``; returns ``{"run_id", "added": {...}}``.

    Verifies every checksum first. Rows already in the store (same primary key; labels with
    the same attempt, labeller, time and values) are skipped, so importing twice adds nothing.
    """
    manifest, members = _open(path)
    run = json.loads(members["run.json"])
    run_id = run["id"]
    tables = {name: _decode(f"{name}.jsonl", members[f"{name}.jsonl"]) for name in TABLES}
    for name, rows in tables.items():
        if any(row.get("run_id") != run_id for row in rows):
            raise BundleError(f"{path}: {name}.jsonl holds rows of another run than {run_id}")
    added: dict[str, int] = {}
    columns = {name: {c.name for c in table.columns} for name, table in TABLES.items()}
    with store.engine.begin() as conn:
        if conn.execute(select(schema.runs.c.id).where(schema.runs.c.id == run_id)).first():
            added["runs"] = 0
        else:
            known = {c.name for c in schema.runs.columns}
            conn.execute(
                schema.runs.insert().values(**{k: v for k, v in run.items() if k in known})
            )
            added["runs"] = 1
        for name, table in TABLES.items():
            rows = [
                _storable(store, {k: v for k, v in row.items() if k in columns[name]})
                for row in tables[name]
            ]
            if name == "human_labels":
                # their ids are the source store's: the target numbers them (in their order,
                # so that an attempt's latest label stays the latest)
                rows = [_without_id(r) for r in sorted(rows, key=lambda r: r.get("id") or 0)]
                have = {
                    (r.attempt_id, r.labeller, r.created_at, r.refusal, r.harm, r.note)
                    for r in conn.execute(select(table).where(table.c.run_id == run_id))
                }
                new = [
                    r for r in rows
                    if (r["attempt_id"], r["labeller"], r["created_at"], r.get("refusal"),
                        r.get("harm"), r.get("note")) not in have
                ]  # fmt: skip
            else:
                key = _primary_key(table)
                query = select(*(table.c[k] for k in key)).where(table.c.run_id == run_id)
                have = {tuple(row) for row in conn.execute(query)}
                new = [r for r in rows if tuple(r[k] for k in key) not in have]
            if new:
                conn.execute(table.insert(), new)
            added[name] = len(new)
        existing = {
            (c.judge, c.data_sha256, c.created_at)
            for c in conn.execute(select(schema.judge_calibrations))
        }
        calibrations = [
            _without_id(_storable(store, c))
            for c in _decode("calibrations.jsonl", members["calibrations.jsonl"])
            if (c["judge"], c["data_sha256"], c["created_at"]) not in existing
        ]  # the target numbers them
        if calibrations:
            conn.execute(schema.judge_calibrations.insert(), calibrations)
        added["calibrations"] = len(calibrations)
    return {"run_id": run_id, "manifest": manifest, "added": added}
