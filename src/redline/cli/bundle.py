"""``redline bundle``: hand a run and its provenance to another team, or take one in."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import click

from redline.cli import db_option, user_errors


@click.group()
def bundle() -> None:
    """Findings bundles: one portable, checksummed file with a run and its provenance."""


@bundle.command("export")
@click.argument("run_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="The bundle file "
              "[default: RUN_ID.redline.zip].")  # fmt: skip
@click.option("--redact", is_flag=True, help="Replace unsafe replies with a hash marker.")
@click.option(
    "--only",
    type=click.Choice(["all", "unsafe"]),
    default="all",
    show_default=True,
    help="Every attempt, or only those the run's first judge found unsafe.",
)
@db_option
@user_errors
def export_command(
    run_id: str, output: str | None, redact: bool, only: str, db: str | None
) -> None:
    """Write a run (RUN_ID, or `latest`) as one bundle file.

    \b
    A zip of JSON Lines (the run, its attempts, calls, verdicts, human labels, component
    specs, judge calibrations) with a manifest: redline version, config, judges and their
    measured agreement, behaviour sources and licences, counts and the SHA-256 of every
    member. Secrets never reach the store, so never a bundle. See docs/bundles.md.
    """  # noqa: D301 (a real backspace: click's marker for a paragraph kept as written)
    from redline.bundle import export_bundle
    from redline.cli.runs import resolve_run_id
    from redline.store import Store

    store = Store(db)
    run_id = resolve_run_id(store, run_id)
    path = Path(output or f"{run_id}.redline.zip")
    manifest = export_bundle(store, run_id, path, redact=redact, only_unsafe=only == "unsafe")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    counts = manifest["counts"]
    click.echo(
        f"{path}: run {run_id}, {counts['attempts']} attempts ({counts['unsafe']} unsafe), "
        f"{counts['verdicts']} verdicts, {counts['human_labels']} human labels"
        + (", unsafe replies redacted" if redact else "")
    )
    click.echo(f"sha256 {digest}  (share it beside the file: the receiver can check it)")


@bundle.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@db_option
@user_errors
def import_command(file: str, db: str | None) -> None:
    """Merge a bundle FILE into the store: checksums verified, nothing added twice."""
    from redline.bundle import import_bundle
    from redline.store import Store

    result = import_bundle(Store(db), file)
    added = result["added"]
    if not any(added.values()):
        click.echo(f"run {result['run_id']}: already in the store, nothing added")
        return
    parts = ", ".join(f"{count} {name}" for name, count in added.items() if count)
    click.echo(f"run {result['run_id']}: added {parts}. Next: redline report {result['run_id']}")


@bundle.command("show")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest as JSON.")
@user_errors
def show_command(file: str, as_json: bool) -> None:
    """Verify a bundle FILE and print its manifest: run, judges, behaviours, counts."""
    from redline.bundle import read_manifest
    from redline.targets.base import target_name

    manifest = read_manifest(file)
    if as_json:
        click.echo(json.dumps(manifest, indent=2, ensure_ascii=False))
        return
    click.echo(f"{file}: verified ({len(manifest['members'])} members match their SHA-256)")
    click.echo(f"run {manifest['run_id']} ({manifest['run_name'] or 'unnamed'}), "
               f"made by redline {manifest['redline_version']}")  # fmt: skip
    click.echo(f"target: {target_name(manifest['target'])}")
    for judge in manifest["judges"]:
        agreement = judge["agreement"]
        measured = (
            f"sensitivity {agreement['sensitivity']:.3f}, specificity "
            f"{agreement['specificity']:.3f} ({agreement['data_name']})"
            if agreement
            else "agreement with people not measured in the exporting store"
        )
        click.echo(f"judge {judge['label']}: {measured}")
    for source in manifest["behaviors"]:
        click.echo(f"behaviours {source['source']}: licence {source['licence']}")
    selection = manifest["selection"]
    click.echo(
        "counts: " + ", ".join(f"{k} {v}" for k, v in manifest["counts"].items())
        + f"; attempts: {selection['only']}" + ("; redacted" if selection["redacted"] else "")
    )  # fmt: skip
