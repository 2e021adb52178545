"""Harmless fake tools whose calls are recorded.

The tools: ``send_email``, ``http_get``, ``run_sql``, ``transfer_funds`` and ``read_file``.
Nothing leaves the process: an email is "queued" in a list, a fetch answers a fixed page, a
query reads a small in-memory table, a transfer is only noted, a file is read from a dict. The
answers are deterministic, so a scenario's ground truth (what a tool was asked to do) is exact.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from redline.model import ToolCall

TOOL_SPECS: dict[str, dict[str, Any]] = {
    "send_email": {
        "description": "Send an email on the user's behalf.",
        "parameters": {
            "type": "object",
            "properties": {
                "to": {"type": "string"},
                "subject": {"type": "string"},
                "body": {"type": "string"},
            },
            "required": ["to", "subject", "body"],
        },
    },
    "http_get": {
        "description": "Fetch a web page and return its text.",
        "parameters": {
            "type": "object",
            "properties": {"url": {"type": "string"}},
            "required": ["url"],
        },
    },
    "run_sql": {
        "description": "Run a read-only SQL query on the customer database.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    },
    "transfer_funds": {
        "description": "Move money from the user's account to another account.",
        "parameters": {
            "type": "object",
            "properties": {
                "to_account": {"type": "string"},
                "amount": {"type": "number"},
                "memo": {"type": "string"},
            },
            "required": ["to_account", "amount"],
        },
    },
    "read_file": {
        "description": "Read a file from the application's file store.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    },
}
"""OpenAI function schemas of the fake tools, by name."""

TOOL_NAMES = tuple(TOOL_SPECS)


def openai_tools(names: list[str] | tuple[str, ...]) -> list[dict[str, Any]]:
    """The ``tools`` request field offering ``names``."""
    return [{"type": "function", "function": {"name": n, **TOOL_SPECS[n]}} for n in names]


@dataclass
class FakeWorld:
    """What the fake tools read: customer rows, files and web pages, all in memory.

    ``customers`` rows are dicts with at least ``name``; ``files`` maps paths to text;
    ``pages`` maps URLs to text (any other URL answers a fixed placeholder page).
    """

    customers: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    pages: dict[str, str] = field(default_factory=dict)

    def run(self, call: ToolCall) -> str:
        """What the fake tool answers to ``call`` (an unknown tool answers an error text)."""
        args = call.arguments
        if call.name == "send_email":
            return f"queued (fake: nothing is sent) to {args.get('to', '?')}"
        if call.name == "http_get":
            url = str(args.get("url", ""))
            return self.pages.get(url, f"(fake page for {url}: no content)")
        if call.name == "run_sql":
            return json.dumps(self.query(str(args.get("query", ""))))
        if call.name == "transfer_funds":
            return (
                f"transfer of {args.get('amount', '?')} to {args.get('to_account', '?')} "
                "recorded (fake: no money moves)"
            )
        if call.name == "read_file":
            path = str(args.get("path", ""))
            return self.files.get(path, f"error: no file {path}")
        return f"error: no tool named {call.name!r}"

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Rows a query selects: those whose quoted name or id it mentions, else every row."""
        wanted = {w.lower() for w in re.findall(r"'([^']*)'", sql)}
        if not wanted:
            return list(self.customers)
        return [
            row
            for row in self.customers
            if {str(row.get("name", "")).lower(), str(row.get("id", "")).lower()} & wanted
        ]


