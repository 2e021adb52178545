"""``redline behaviors list`` and ``show``: the built-in and public behaviour sets."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import click

from redline.cli import user_errors


@click.group()
def behaviors() -> None:
    """Behaviour sets: which ones there are, their sizes, categories and licences."""


def describe_sets() -> list[dict[str, Any]]:
    """Every built-in set: name, title, licence, whether shipped, and its counts when shipped."""
    from redline.behaviors import load_builtin
    from redline.behaviors.public import PUBLIC_SETS

    rows: list[dict[str, Any]] = [
        {
            "name": "core",
            "title": "redline core",
            "licence": "Apache-2.0 (written by the redline team; goals, not instructions)",
            "shipped": True,
            "file": None,
        },
        {
            "name": "apps",
            "title": "redline apps: application and agent scenarios (docs/apps.md)",
            "licence": "Apache-2.0 (written by the redline team; harmless markers, no "
            "real endpoints)",
            "shipped": True,
            "file": None,
        },
    ]
    for public in PUBLIC_SETS.values():
        rows.append(
            {
                "name": public.name,
                "title": public.title,
                "licence": public.licence,
                "shipped": public.shipped is not None,
                "file": public.original_file,
            }
        )
    for row in rows:
        loaded = load_builtin(row["name"]) if row["shipped"] else None
        row["harmful"] = None if loaded is None else sum(not b.benign for b in loaded)
        row["benign"] = None if loaded is None else sum(b.benign for b in loaded)
    return rows


@behaviors.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@user_errors
def list_sets(as_json: bool) -> None:
    """List every built-in behaviour set: size, licence, and what a config needs to use it."""
    rows = describe_sets()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="behaviour sets")
    for column in ("set", "harmful", "benign", "licence", "use"):
        table.add_column(column, overflow="fold")
    for row in rows:
        use = (
            f"behaviors: [{row['name']}]"
            if row["shipped"]
            else f"{{builtin: {row['name']}, file: YOUR COPY}} ({row['file']})"
        )
        count = lambda n: "—" if n is None else str(n)  # noqa: E731
        table.add_row(
            row["name"], count(row["harmful"]), count(row["benign"]), row["licence"], escape(use)
        )
    Console().print(table)


@behaviors.command("show")
@click.argument("name")
@click.option("--file", "file", type=click.Path(), help="Your copy of the set's original file.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@user_errors
def show_set(name: str, file: str | None, as_json: bool) -> None:
    """One set: source, licence, citation, category mapping, and sizes per category.

    Sizes come from the shipped copy, or from your copy given with --file.
    """
    from redline.behaviors import builtin_names, load_builtin
    from redline.behaviors.public import PUBLIC_SETS, Guess
    from redline.errors import DataError

    if name not in builtin_names():
        raise DataError(f"unknown behaviour set {name!r} (known: {', '.join(builtin_names())})")
    public = PUBLIC_SETS.get(name)
    info: dict[str, Any] = {"name": name}
    if public is not None:
        info |= {
            "title": public.title,
            "licence": public.licence,
            "source": public.source,
            "citation": public.citation,
            "original_file": public.original_file,
            "shipped": public.shipped is not None,
            "benign_counterparts": public.benign,
            "mapping": {
                k: (f"by the goal's words, else {v.default}" if isinstance(v, Guess) else v)
                for k, v in public.mapping.items()
            },
        }
    loaded = None
    if file is not None or public is None or public.shipped is not None:
        loaded = load_builtin(name, file)
    if loaded is not None:
        harmful = Counter(b.category for b in loaded if not b.benign)
        benign = Counter(b.category for b in loaded if b.benign)
        info["categories"] = {
            c: {"harmful": harmful[c], "benign": benign[c]} for c in sorted(harmful | benign)
        }
        info["harmful"], info["benign"] = sum(harmful.values()), sum(benign.values())
    if as_json:
        click.echo(json.dumps(info, indent=2, ensure_ascii=False))
        return
    for key in ("title", "licence", "source", "citation", "original_file", "benign_counterparts"):
        if key in info:
            click.echo(f"{key.replace('_', ' ')}: {info[key]}")
    if public is not None:
        click.echo(f"shipped: {'yes' if info['shipped'] else 'no: give your copy with file:'}")
    if info.get("mapping"):
        click.echo("categories (original -> redline):")
        for original, mapped in info["mapping"].items():
            click.echo(f"  {original} -> {mapped}")
    if "categories" in info:
        click.echo(f"behaviours: {info['harmful']} harmful, {info['benign']} benign")
        for category, counts in info["categories"].items():
            click.echo(f"  {category}: {counts['harmful']} harmful, {counts['benign']} benign")
    else:
        click.echo("sizes: give your copy with --file to count it")
