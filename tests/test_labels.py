"""Human labels: the store functions, `redline labels`, and `judges eval --run`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from tests.conftest import (
    behaviors_file,
    db_rows,
    is_postgres,
    run_cli,
    small_campaign,
    write_config,
)

from redline.bundle import export_bundle, import_bundle
from redline.errors import StoreError
from redline.store import Store
from redline.store.labels import (
    LabelError,
    add_label,
    current_labels,
    label_counts,
    label_history,
)
from redline.testserver import ServerConfig, running_server

JUDGES = ["refusal", "refusal_patterns"]


def scan_for_labels(tmp_path: Path, db: Path, harmful: int = 12, benign: int = 3) -> str:
    """A run of ``harmful`` behaviours (the odd ones, 'alpha', refused) and benign look-alikes."""
    rows = [
        {"id": f"h{i}", "behavior": f"goal {i} {'alpha' if i % 2 else 'beta'}", "category": "c"}
        for i in range(harmful)
    ] + [
        {"id": f"b{i}", "behavior": f"benign {i} beta", "category": "d", "benign": True}
        for i in range(benign)
    ]
    with running_server(ServerConfig(mode="refuse", refuse_keywords=["alpha"])) as srv:
        config = small_campaign(
            srv.base_url, str(behaviors_file(tmp_path / "b.jsonl", rows)), judges=JUDGES
        )
        result = run_cli(
            "scan", str(write_config(tmp_path / "c.yaml", config)), "--db", str(db),
            "--no-progress",
        )  # fmt: skip
    assert result.exit_code in (0, 3), result.output
    return json.loads(run_cli("runs", "--json", "--db", str(db)).output)[0]["id"]


def copy_store(source: Path, target: Path) -> Path:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


@pytest.fixture(scope="session", name="scanned")
def scanned_fixture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("labels")
    db = tmp / "results.db"
    return db, scan_for_labels(tmp, db)


@pytest.fixture(name="run")
def run_fixture(
    scanned: tuple[Path, str], tmp_path: Path, any_db: Path | str
) -> tuple[Path | str, str]:
    """A fresh copy of one scanned store (15 attempts: 12 harmful, 3 benign) per test.

    On SQLite a copy of the file; on PostgreSQL the run moved there as a findings bundle.
    """
    db, run_id = scanned
    if not is_postgres(any_db):
        return copy_store(db, Path(any_db)), run_id
    bundle = tmp_path / "run.zip"
    export_bundle(Store(db), run_id, bundle)
    import_bundle(Store(any_db), bundle)
    return any_db, run_id


def plan(db: Path, run_id: str) -> list[tuple[str, bool]]:
    """``(attempt id, benign)`` in plan order."""
    sql = f"SELECT id, benign FROM attempts WHERE run_id = '{run_id}' ORDER BY idx"
    return [(aid, bool(benign)) for aid, benign in db_rows(db, sql)]


def test_add_label_validates_and_names_the_field(run: tuple[Path, str]):
    db, run_id = run
    store = Store(db)
    aid = plan(db, run_id)[0][0]
    cases = [
        ({"labeller": " ", "refusal": "refused"}, "labeller"),
        ({"labeller": "x" * 101, "refusal": "refused"}, "labeller"),
        ({"labeller": "a", "refusal": "maybe"}, "refusal"),
        ({"labeller": "a", "refusal": 3}, "refusal"),
        ({"labeller": "a", "harm": "dangerous"}, "harm"),
        ({"labeller": "a"}, "refusal"),  # neither question answered
        ({"labeller": "a", "harm": "safe", "note": ["x"]}, "note"),
    ]
    for values, field in cases:
        with pytest.raises(LabelError) as err:
            add_label(store, run_id, aid, **values)
        assert err.value.field == field, values
    with pytest.raises(StoreError, match="no attempt 'nope'"):
        add_label(store, run_id, "nope", "a", "refused")
    assert db_rows(db, "SELECT count(*) FROM human_labels") == [(0,)]


def test_labels_are_appended_and_the_latest_wins(run: tuple[Path, str]):
    db, run_id = run
    store = Store(db)
    store.add_secrets(["sk-secret-value"])
    (a1, _), (a2, _) = plan(db, run_id)[:2]
    first = add_label(store, run_id, a1, "alice", "Refused", "SAFE", "  ", now=1.0)
    assert (first.refusal, first.harm, first.note) == ("refused", "safe", None)
    add_label(store, run_id, a1, "bob", "complied", "unsafe", "key sk-secret-value", now=2.0)
    add_label(store, run_id, a1, "alice", "partial", None, now=3.0)
    add_label(store, run_id, a2, "bob", "complied", "unsafe", now=4.0)

    history = label_history(store, run_id, a1)
    assert [(h.labeller, h.refusal, h.harm) for h in history] == [
        ("alice", "refused", "safe"), ("bob", "complied", "unsafe"), ("alice", "partial", None),
    ]  # fmt: skip
    assert history[1].note == "key <redacted>"
    overall = current_labels(store, run_id)
    assert (overall[a1].labeller, overall[a1].refusal) == ("alice", "partial")
    assert overall[a2].labeller == "bob"
    bob = current_labels(store, run_id, "bob")
    assert (bob[a1].refusal, bob[a1].harm) == ("complied", "unsafe")
    assert set(current_labels(store, run_id, "alice")) == {a1}
    counts = label_counts(store, run_id)
    assert counts["rows"] == 4
    assert counts["all"] == {
        "attempts": 2, "refused": 0, "partial": 1, "complied": 1, "unsafe": 1, "safe": 0,
    }  # fmt: skip
    assert counts["by_labeller"]["bob"]["attempts"] == 2
    assert counts["by_labeller"]["alice"]["partial"] == 1


def label_all(db: Path, run_id: str) -> None:
    """Label every reply: harmful ones by whether the reply complied, two of them wrongly."""
    store = Store(db)
    for i, attempt in enumerate(store.iter_attempts(run_id)):
        reply = attempt.transcript["messages"][-1]["content"]
        complied = reply.startswith("Sure")
        refusal = "complied" if complied else ("partial" if i == 3 else "refused")
        harm = None if attempt.benign else ("unsafe" if complied else "safe")
        if i in (0, 1):  # people disagreeing with every judge
            harm = {"unsafe": "safe", "safe": "unsafe"}[harm or "safe"]
        add_label(store, run_id, attempt.id, "alice" if i % 2 else "bob", refusal, harm)


def test_labels_list_and_export(run: tuple[Path, str], tmp_path: Path):
    db, run_id = run
    label_all(db, run_id)
    listed = run_cli("labels", "list", run_id, "--db", str(db))
    assert listed.exit_code == 0, listed.output
    assert "15 attempts labelled of 15 planned (15 labels stored)" in listed.output
    assert [line.split()[0] for line in listed.output.splitlines()[1:]] == [
        "labeller", "all", "alice", "bob",
    ]  # fmt: skip

    out = tmp_path / "harm.jsonl"
    result = run_cli("labels", "export", run_id, "-o", str(out), "--db", str(db))
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 12  # the benign look-alikes have no harm label
    assert {r["label"] for r in records} == {"unsafe", "safe"}
    assert all(r["benign"] is False and r["category"] == "c" for r in records)
    first = records[0]
    assert first["behavior"] == "goal 0 beta" and first["prompt"] == "goal 0 beta"
    assert first["response"].startswith("Sure") and first["labeller"] == "bob"

    refusal = run_cli("labels", "export", run_id, "--kind", "refusal", "--db", str(db))
    rows = [json.loads(line) for line in refusal.output.splitlines()]
    assert len(rows) == 15 and sum(r["benign"] for r in rows) == 3
    assert {r["label"] for r in rows} == {"refused", "partial", "complied"}
    alice = run_cli("labels", "export", run_id, "--labeller", "alice", "--db", str(db))
    assert {json.loads(line)["labeller"] for line in alice.output.splitlines()} == {"alice"}

    none = run_cli("labels", "export", run_id, "--labeller", "carol", "--db", str(db))
    assert none.exit_code == 2 and "no harm labels by carol" in none.output
    missing = run_cli("labels", "list", "no-such-run", "--db", str(db))
    assert missing.exit_code == 2 and "no run 'no-such-run'" in missing.output


@pytest.mark.parametrize("kind", ["harm", "refusal"])
def test_export_then_eval_data_equals_eval_run(run: tuple[Path, str], tmp_path: Path, kind):
    db, run_id = run
    label_all(db, run_id)
    out = tmp_path / f"{kind}.jsonl"
    exported = run_cli("labels", "export", run_id, "--kind", kind, "-o", str(out), "--db", str(db))
    assert exported.exit_code == 0, exported.output
    by_file = run_cli("judges", "eval", "refusal_patterns", "--data", str(out), "--json")
    by_run = run_cli(
        "judges", "eval", "refusal_patterns", "--run", run_id, "--kind", kind, "--json",
        "--db", str(db),
    )  # fmt: skip
    assert by_file.exit_code == 0 and by_run.exit_code == 0, by_file.output + by_run.output
    file_figures, run_figures = json.loads(by_file.output), json.loads(by_run.output)
    assert file_figures.pop("data") == str(out) and run_figures.pop("data") == f"run:{run_id}"
    assert file_figures == run_figures  # data_sha256 included: the same bytes
    assert run_figures["kind"] == kind
    if kind == "harm":
        # two of twelve labels contradict every judge
        assert (run_figures["n"], run_figures["accuracy"]) == (12, pytest.approx(10 / 12))
    else:
        assert run_figures["n"] == 15 and run_figures["accuracy"] == 1.0
    text = run_cli("judges", "eval", "refusal_patterns", "--run", "latest", "--db", str(db))
    assert f"on run:{run_id} (harm labels)" in text.output


def test_eval_run_save_stores_a_calibration(run: tuple[Path, str]):
    db, run_id = run
    label_all(db, run_id)
    result = run_cli(
        "judges", "eval", "refusal", "--run", run_id, "--save", "--json", "--db", str(db)
    )
    assert result.exit_code == 0, result.output
    saved = json.loads(result.output.split("\nsaved calibration")[0])["saved_calibration"]
    assert db_rows(db, f"SELECT data_name, positives FROM judge_calibrations WHERE id={saved}") == [
        (f"run:{run_id}", 6)
    ]
    refusal = run_cli(
        "judges", "eval", "refusal", "--run", run_id, "--kind", "refusal", "--save",
        "--db", str(db),
    )  # fmt: skip
    assert refusal.exit_code == 2 and "harm calibrations only" in refusal.output


def test_eval_needs_exactly_one_of_data_and_run(run: tuple[Path, str], tmp_path: Path):
    db, run_id = run
    neither = run_cli("judges", "eval", "refusal_patterns")
    assert neither.exit_code == 2 and "exactly one of --data FILE" in neither.output
    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "p", "response": "r", "label": "safe"}\n')
    both = run_cli("judges", "eval", "refusal_patterns", "--data", str(data), "--run", run_id)
    assert both.exit_code == 2 and "both were given" in both.output
    kind = run_cli("judges", "eval", "refusal_patterns", "--data", str(data), "--kind", "harm")
    assert kind.exit_code == 2 and "--kind and --labeller go with --run" in kind.output
    unlabelled = run_cli("judges", "eval", "refusal_patterns", "--run", run_id, "--db", str(db))
    assert unlabelled.exit_code == 2 and f"run {run_id} has no harm labels" in unlabelled.output
    unknown = run_cli("judges", "eval", "refusal_patterns", "--run", "nope", "--db", str(db))
    assert unknown.exit_code == 2 and "no run 'nope'" in unknown.output
    for args in (
        ["labels", "--help"],
        ["labels", "export", "--help"],
        ["labels", "list", "--help"],
    ):
        assert run_cli(*args).exit_code == 0


def test_a_labelled_file_may_carry_category_benign_and_messages(tmp_path: Path):
    from redline.report.calibration import load_labelled

    data = tmp_path / "d.jsonl"
    conversation = [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "now the bad part"}, {"role": "assistant", "content": "no"},
    ]  # fmt: skip
    data.write_text(
        json.dumps({"prompt": "now the bad part", "response": "no", "label": "refused",
                    "category": "cyber", "benign": True, "messages": conversation}) + "\n"
    )  # fmt: skip
    kind, (example,) = load_labelled(data)
    assert (kind, example.category, example.benign, len(example.messages)) == (
        "refusal", "cyber", True, 4,
    )  # fmt: skip
    data.write_text('{"prompt": "p", "response": "r", "label": "safe", "benign": "yes"}\n')
    with pytest.raises(Exception, match=r"d.jsonl:1: 'benign' must be true or false"):
        load_labelled(data)
    one_message = [{"role": "user", "content": "p"}]
    data.write_text(
        json.dumps({"prompt": "p", "response": "r", "label": "safe", "messages": one_message})
    )
    with pytest.raises(Exception, match=r"d.jsonl:1: 'messages' must be a list"):
        load_labelled(data)
