"""``redline attacks list``: every attack with its description, parameters and query cost."""

from __future__ import annotations

import json

import click


@click.group()
def attacks() -> None:
    """Attacks: what is available and what each costs."""


def describe_attacks() -> list[dict]:
    """Name, description, options (with defaults) and query cost of every attack."""
    from redline import registry

    rows = []
    for name in registry.attacks.names():
        cls = registry.attacks.get(name)
        options = {
            field: (None if info.is_required() else info.get_default(call_default_factory=True))
            for field, info in cls.Options.model_fields.items()
        }
        composes = hasattr(cls, "rewrite") or getattr(cls, "composes_over", False)
        rows.append(
            {
                "name": name,
                "description": getattr(cls, "description", (cls.__doc__ or "").split("\n")[0]),
                "options": options,
                "composes_over": bool(composes),
                "query_cost": getattr(cls, "query_cost", "?"),
            }
        )
    return rows


@attacks.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def list_attacks(as_json: bool) -> None:
    """List every attack: what it does, its options, its cost in target queries."""
    rows = describe_attacks()
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="attacks", show_lines=False)
    for column in ("attack", "what it sends", "options (default)", "target queries"):
        table.add_column(column, overflow="fold")
    for row in rows:
        parts = [f"{k}={v!r}" for k, v in row["options"].items()]
        if row["composes_over"]:
            parts.append("over=<attack>")
        options = ", ".join(parts) or "—"
        table.add_row(row["name"], row["description"], options, str(row["query_cost"]))
    Console().print(table)
