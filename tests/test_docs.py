from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

from redline import registry

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_is_generated_from_the_current_help():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts" / "gen_cli_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "cli.md").read_text() == module.render(), (
        "docs/cli.md is stale: run python scripts/gen_cli_docs.py"
    )


def test_every_builtin_plugin_is_documented():
    config_doc = (ROOT / "docs" / "config.md").read_text()
    for reg in (registry.targets, registry.attacks, registry.judges):
        for ep in entry_points(group=reg.group):
            if ep.value.startswith("redline."):
                missing = f"{reg.kind} {ep.name} is not in docs/config.md"
                assert f"`{ep.name}`" in config_doc, missing


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "make scan" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
