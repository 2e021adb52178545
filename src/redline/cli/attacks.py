"""``redline attacks list`` and ``show``: every attack, its options and its query cost."""

from __future__ import annotations

import json
import typing
from typing import Any

import click

from redline.cli import user_errors


@click.group()
def attacks() -> None:
    """Attacks: what is available, what each one's options are and what it costs."""


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


def _type_name(annotation: Any) -> str:
    """A readable type: ``int``, ``float | None``, ``one of: a, b``."""
    if typing.get_origin(annotation) is typing.Literal:
        return "one of: " + ", ".join(map(str, typing.get_args(annotation)))
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _constraints(metadata: list[Any]) -> str:
    """``>= 1, <= 50`` from a field's pydantic constraints."""
    words = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<", "min_length": "length >=",
             "max_length": "length <="}  # fmt: skip
    parts = []
    for item in metadata:
        for attr, word in words.items():
            value = getattr(item, attr, None)
            if value is not None:
                parts.append(f"{word} {value}")
    return ", ".join(parts)


def _plain(text: str) -> str:
    """A docstring as one line of text (reST double backquotes made single)."""
    return " ".join(text.split()).replace("``", "`")


def describe_attack(name: str) -> dict[str, Any]:
    """Everything ``attacks show`` prints about one attack (a :class:`PluginError` if unknown)."""
    from redline import registry

    cls = registry.attacks.get(name)
    options = []
    for field, info in cls.Options.model_fields.items():
        required = info.is_required()
        options.append(
            {
                "name": field,
                "type": _type_name(info.annotation),
                "default": None if required else info.get_default(call_default_factory=True),
                "required": required,
                "constraints": _constraints(info.metadata),
                "description": _plain(info.description or ""),
            }
        )
    doc = _plain(cls.__doc__ or "")
    return {
        "name": name,
        "summary": getattr(cls, "description", doc.split("\n")[0]),
        "description": doc,
        "query_cost": getattr(cls, "query_cost", "?"),
        "needs_attacker": bool(getattr(cls, "needs_attacker", False)),
        "composes_over": bool(hasattr(cls, "rewrite") or getattr(cls, "composes_over", False)),
        "options": options,
        "choices": {k: dict(v) for k, v in getattr(cls, "option_choices", {}).items()},
    }


@attacks.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
@user_errors
def show_attack(name: str, as_json: bool) -> None:
    """Show one attack: what it does, its options (types, defaults), its cost in queries.

    For `template`, also every style with its framing ({goal} is where the prompt goes).
    """
    info = describe_attack(name)
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{escape(info['name'])}[/]: {escape(info['summary'])}")
    if info["description"]:
        console.print(escape(info["description"]), highlight=False)
    console.print(f"[bold]target queries[/]: {escape(str(info['query_cost']))}")
    needs = "yes (add `attacker:` to the campaign)" if info["needs_attacker"] else "no"
    console.print(f"[bold]needs an attacker model[/]: {needs}")
    if info["composes_over"]:
        inner = "rot13" if info["name"] == "template" else "template, style: fiction"
        console.print(
            "[bold]composes[/]: yes, over another prompt rewrite: "
            f"{{name: {escape(info['name'])}, over: {{name: {inner}}}}}"
        )
    if info["options"]:
        table = Table(title="options", title_justify="left", show_lines=False)
        for column in ("option", "type", "default", "allowed", "what it does"):
            table.add_column(column, overflow="fold")
        for option in info["options"]:
            default = "(required)" if option["required"] else repr(option["default"])
            kind = "see below" if option["name"] in info["choices"] else option["type"]
            table.add_row(
                option["name"],
                escape(kind),
                escape(default),
                escape(option["constraints"]),
                escape(option["description"]),
            )
        console.print(table)
    else:
        console.print("[bold]options[/]: none")
    for option, choices in info["choices"].items():
        table = Table(title=f"{option} values", title_justify="left")
        table.add_column(option, no_wrap=True)
        table.add_column("text sent ({goal}: the prompt beneath)", overflow="fold")
        for value, text in choices.items():
            table.add_row(value, escape(" ".join(text.split())))
        console.print(table)
