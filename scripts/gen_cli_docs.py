"""Regenerate docs/cli.md from the commands' own --help (a test checks it is current)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from redline.cli import cli

HEADER = """# CLI reference

Generated from `--help` by `python scripts/gen_cli_docs.py`; do not edit by hand
(`tests/test_docs.py` fails when this page and the commands disagree).

Exit codes of every command: 0 success; 1 internal error (a bug); 2 bad usage, config, data
file, plugin or store; 3 a gate failed (attack success rate above `--fail-on-asr`, a gate with
nothing measured, `diff --fail-on-regression`); 4 every attempt ended in error; 5 stopped at the
call budget; 6 more attempts in error than `--max-error-rate` (default 0.2); 130 interrupted
(Ctrl-C); 143 terminated (SIGTERM). See [reports.md](reports.md#exit-codes).
"""


def render() -> str:
    """The whole page, from the current commands."""
    parts = [HEADER]
    root = click.Context(cli, info_name="redline", terminal_width=100, **cli.context_settings)
    parts.append(f"## `redline`\n\n```text\n{cli.get_help(root)}\n```\n")
    for name in sorted(cli.commands):
        command = cli.commands[name]
        ctx = click.Context(command, info_name=name, parent=root, terminal_width=100)
        parts.append(f"## `redline {name}`\n\n```text\n{command.get_help(ctx)}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    target = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
    target.write_text(render())
    sys.stdout.write(f"wrote {target}\n")
