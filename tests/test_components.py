"""Canonical specs (``registry.build``) and the ``components`` table they are stored in."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from tests.conftest import behaviors_file, db_rows, run_cli, small_campaign, write_config

from redline import registry
from redline.errors import PluginError
from redline.store import Store, migrations

ROWS = [{"id": f"h{i}", "behavior": f"Goal number {i}", "category": "c"} for i in range(3)]


def test_the_same_config_gives_the_same_canonical_spec_with_defaults_filled():
    a = registry.build(
        "judge",
        {
            "name": "rubric",
            "mode": "scale",
            "max_tokens": 96,
            "model": {"type": "openai", "base_url": "http://h", "model": "m"},
        },
    )
    b = registry.build(
        "judge",
        {
            "model": {"model": "m", "base_url": "http://h", "type": "openai"},
            "max_tokens": 96,
            "mode": "scale",
            "name": "rubric",
        },
    )
    assert a.spec_json == b.spec_json and a.spec_sha256 == b.spec_sha256
    assert a.spec_json == json.dumps(a.spec, sort_keys=True, separators=(",", ":"))
    assert " " not in a.spec_json.replace("Goal number", "")
    assert a.spec["label"] is None  # defaults are filled
    assert a.spec["model"]["api_key_env"] is None  # the judge model's spec is canonical too
    assert (
        registry.build("judge", "refusal").spec == registry.build("judge", {"name": "refusal"}).spec
    )


def test_nested_over_and_members_are_canonical():
    short = registry.build("attack", {"name": "base64", "over": "template"})
    long = registry.build("attack", {"name": "base64", "over": {"name": "template"}})
    assert short.spec_sha256 == long.spec_sha256
    assert short.spec["over"]["name"] == "template" and "style" in short.spec["over"]
    other = registry.build("attack", {"name": "base64", "over": {"name": "leetspeak"}})
    assert other.spec_sha256 != short.spec_sha256
    ensemble = registry.build(
        "judge", {"name": "ensemble", "judges": ["refusal", "refusal_patterns"]}
    )
    assert [m["name"] for m in ensemble.spec["judges"]] == ["refusal", "refusal_patterns"]
    assert all("label" in m for m in ensemble.spec["judges"])


def test_one_error_format_for_every_kind():
    for kind, spec in (
        ("attack", {"name": "direct", "nope": 1}),
        ("judge", {"name": "refusal", "nope": 1}),
        ("target", {"type": "openai", "nope": 1}),
    ):
        with pytest.raises(PluginError, match=rf"^{kind} '\w+': .*nope"):
            registry.build(kind, spec)


def test_no_secret_value_in_a_canonical_spec(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RL_KEY", "sk-secret-value-123")
    built = registry.specify(
        "target",
        {
            "type": "openai",
            "base_url": "http://bob:pw-secret-999@host:8080/v1?api_key=qk-secret-1",
            "model": "m",
            "api_key_env": "RL_KEY",
            "headers": {"X-Literal": "lit-secret-7", "X-Env": "${RL_KEY}"},
        },
    )
    text = built.spec_json
    for secret in ("sk-secret-value-123", "pw-secret-999", "qk-secret-1", "lit-secret-7", "bob"):
        assert secret not in text
    assert built.spec["api_key_env"] == "RL_KEY" and built.spec["headers"]["X-Env"] == "${RL_KEY}"


def scan(tmp_path: Path, db: Path, config: dict) -> str:
    result = run_cli(
        "scan", str(write_config(tmp_path / "c.yaml", config)), "--db", str(db), "--no-progress"
    )
    assert result.exit_code in (0, 1), result.output
    return str(db_rows(db, "select id from runs")[0][0])


def test_a_scan_stores_its_components_and_verdicts_point_at_them(
    server, tmp_path: Path, db: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("RL_TEST_KEY", "sk-never-stored-4242")
    config = small_campaign(server.base_url, str(behaviors_file(tmp_path / "b.jsonl", ROWS)))
    config["target"]["api_key_env"] = "RL_TEST_KEY"
    config["attacks"] = ["direct", {"name": "base64", "over": "template"}]
    run_id = scan(tmp_path, db, config)
    stored = db_rows(db, "select kind, label, spec_json, spec_sha256 from components")
    assert {kind for kind, *_ in stored} == {"target", "attack", "judge"}
    assert len([k for k, *_ in stored if k == "attack"]) == 2
    target = next(json.loads(s) for k, _, s, _ in stored if k == "target")
    assert target["api_key_env"] == "RL_TEST_KEY"
    assert "sk-never-stored-4242" not in str(stored)
    judge_shas = {sha for k, _, _, sha in stored if k == "judge"}
    verdicts = db_rows(db, "select judge_spec_sha256 from verdicts")
    assert verdicts and {sha for (sha,) in verdicts} == judge_shas
    for _, _, text, sha in stored:
        assert registry.spec_sha256(text) == sha

    result = run_cli(
        "rejudge", run_id, "--judge", "keyword", "--set", "keywords=[sorry]", "--db", str(db)
    )
    assert result.exit_code == 0, result.output
    judges = db_rows(db, "select label, spec_sha256 from components where kind = 'judge'")
    assert len(judges) == 2
    by_label = dict(judges)
    for label, sha in db_rows(db, "select judge, judge_spec_sha256 from verdicts"):
        assert by_label[label] == sha


def test_a_store_from_before_components_is_upgraded(tmp_path: Path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "create table verdicts (run_id text, attempt_id text, judge text, outcome text, "
            "refused boolean, score float, rationale text, raw text, created_at float, "
            "partial boolean, primary key (run_id, attempt_id, judge))"
        )
        conn.execute("insert into verdicts values ('r', 'a', 'j', 'safe', 0, null, '', null, 0, 0)")
        conn.execute(
            "create table schema_migrations (version integer primary key, name text, "
            "applied_at float)"
        )
        conn.executemany("insert into schema_migrations values (?, 'old', 0)", [(1,), (2,), (3,)])
    Store(path)
    Store(path)  # a second open applies nothing twice
    columns = [row[1] for row in db_rows(path, "pragma table_info(verdicts)")]
    assert columns[-1] == "judge_spec_sha256"
    assert db_rows(path, "select judge_spec_sha256 from verdicts") == [(None,)]
    assert db_rows(path, "select count(*) from components") == [(0,)]
    assert db_rows(path, "select version_num from alembic_version") == [(migrations.head(),)]


def test_a_label_whose_spec_changed_keeps_both_specs(tmp_path: Path):
    store = Store(tmp_path / "s.db")
    model = {"type": "openai", "base_url": "http://a", "model": "m"}
    first = registry.specify("judge", {"name": "rubric", "model": model})
    moved = registry.specify(
        "judge", {"name": "rubric", "model": {**model, "base_url": "http://b"}}
    )
    store.add_components("r", [("rubric(model=m)", first)])
    store.add_components("r", [("rubric(model=m)", first), ("rubric(model=m)", moved)])
    rows = store.components("r")
    assert [r["spec_sha256"] for r in rows] == [first.spec_sha256, moved.spec_sha256]
    assert store.judge_spec_hashes("r") == {"rubric(model=m)": moved.spec_sha256}
