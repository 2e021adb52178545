"""Gates that never pass on nothing, why attempts failed, JSONL, safe text, bounded summaries.

Every test goes through the real store, and where a target is involved, the project's test
server (fault markers such as ``[[fault:500]]`` in a prompt make the server fail that request).
"""

from __future__ import annotations

import json
import random
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.conftest import behaviors_file, db_rows, run_cli, small_campaign, write_config

from redline.cli import cli
from redline.model import (
    AttemptResult,
    Behavior,
    CallRecord,
    Message,
    Outcome,
    PlannedAttempt,
    Transcript,
    Verdict,
)
from redline.report.errors import error_cause
from redline.report.stats import bleu, fixed_sample, self_bleu, tokens
from redline.report.summary import run_summary
from redline.report.text import printable, xml_text
from redline.store import Store
from redline.testserver import ServerConfig, running_server

HOSTILE_NAME = "evil\x1b]0;pwned title\x07\x1b[2J\x1b[31mred\x9b1m\x07\x00\x08\u202e[bold]x[/]"


def scan(tmp_path: Path, db: Path, rows: list[dict], *args: str, server=None, **extra):
    """Scan ``rows`` (behaviours) with the direct attack; returns the CLI result and run id."""
    own = server is None
    context = running_server(ServerConfig(mode="refuse")) if own else None
    srv = context.__enter__() if own else server
    try:
        config = small_campaign(srv.base_url, str(behaviors_file(tmp_path / "b.jsonl", rows)))
        config["limits"].update(max_retries=0)
        config.update(extra)
        path = write_config(tmp_path / "c.yaml", config)
        result = run_cli("scan", str(path), "--db", str(db), "--no-progress", *args)
    finally:
        if own:
            context.__exit__(None, None, None)
    run_id = db_rows(db, "select id from runs order by created_at desc")[0][0]
    return result, run_id


def harmful_fail_benign_ok(n: int = 4) -> list[dict]:
    """Harmful behaviours whose every request fails (HTTP 500); benign look-alikes that work."""
    return [
        {"id": f"h{i}", "behavior": f"harmful goal {i} [[fault:500]]", "category": "c"}
        for i in range(n)
    ] + [
        {"id": f"b{i}", "behavior": f"benign question {i}", "category": "c", "benign": True}
        for i in range(n)
    ]


# 1. gates never pass on nothing ---------------------------------------------------------------


def test_scan_gate_fails_when_every_harmful_attempt_errors_but_benign_succeed(
    tmp_path: Path, db: Path
):
    rows = harmful_fail_benign_ok()
    result, run_id = scan(tmp_path, db, rows, "--fail-on-asr", "0.5")
    assert result.exit_code == 3, result.output
    assert "nothing measured" in result.output and "0 of 4" in " ".join(result.output.split())
    # without a gate, the error rate (4 of 4 harmful attempts) fails the scan on its own
    result, _ = scan(tmp_path, db, rows)
    assert result.exit_code == 6, result.output
    assert "too many errors" in result.output
    assert "--max-error-rate RATE" in run_cli("scan", "--help").output
    # turned off, the run passes: nothing was gated
    assert scan(tmp_path, db, rows, "--max-error-rate", "1")[0].exit_code == 0
    # report gates the stored run the same way
    gated = run_cli("report", run_id, "--fail-on-asr", "0.5", "--db", str(db))
    assert gated.exit_code == 3 and "nothing measured" in gated.output
    category = run_cli("report", run_id, "--fail-on-asr", "c=0.5", "--db", str(db))
    assert category.exit_code == 3 and "c: nothing measured" in category.output
    assert run_cli("report", run_id, "--db", str(db)).exit_code == 6
    assert run_cli("report", run_id, "--max-error-rate", "1", "--db", str(db)).exit_code == 0
    bad = run_cli("report", run_id, "--max-error-rate", "2", "--db", str(db))
    assert bad.exit_code == 2 and "--max-error-rate" in bad.output


def test_report_on_an_all_error_run_fails(tmp_path: Path, db: Path):
    rows = [
        {"id": f"h{i}", "behavior": f"goal {i} [[fault:500]]", "category": "c"} for i in range(3)
    ]
    result, run_id = scan(tmp_path, db, rows, "--fail-on-asr", "0.5")
    assert result.exit_code == 4, result.output
    assert "Causes: HTTP 500 (3)" in " ".join(result.output.split())
    for extra in ([], ["--fail-on-asr", "0.5"], ["--format", "json"]):
        report = run_cli("report", run_id, *extra, "--db", str(db))
        assert report.exit_code == 4, (extra, report.output)
        assert "Every attempt ended in error (3 of 3)" in report.stderr
    # every check turned off: the report is only a report
    assert run_cli("report", run_id, "--max-error-rate", "1", "--db", str(db)).exit_code == 0


def test_diff_regression_gate_with_no_pairs_fails(tmp_path: Path, db: Path):
    rows = harmful_fail_benign_ok(3)
    _, before = scan(tmp_path, db, rows)
    _, after = scan(tmp_path, db, rows)
    result = json.loads(run_cli("diff", before, after, "--json", "--db", str(db)).output)
    assert result["paired"] == {"harmful": 0, "benign": 3, "errors": 3}
    assert run_cli("diff", before, after, "--db", str(db)).exit_code == 0  # no gate, no failure
    gated = run_cli("diff", before, after, "--fail-on-regression", "--db", str(db))
    assert gated.exit_code == 3, gated.output
    assert "nothing to compare" in gated.output


def test_rejudge_with_a_dead_judge_reports_errors_and_fails(tmp_path: Path, db: Path):
    rows = [{"id": f"h{i}", "behavior": f"goal {i}", "category": "c"} for i in range(3)]
    result, run_id = scan(tmp_path, db, rows)
    assert result.exit_code == 0, result.output
    # the judge model answers every request with a body that is not JSON
    with running_server(ServerConfig(fault_rates={"malformed": 1.0})) as judge_server:
        dead = run_cli(
            "rejudge", run_id, "--judge", "rubric", "--judge-url", judge_server.base_url,
            "--judge-model", "m", "--db", str(db),
        )  # fmt: skip
    assert dead.exit_code == 4, dead.output
    assert "attempts judged" not in dead.output
    flat = " ".join(dead.output.split())
    assert "every one of the 3 new verdicts is an error" in flat
    assert "judge: malformed JSON (3)" in flat


def test_rejudge_judges_a_dead_judges_errors_again(tmp_path: Path, db: Path):
    rows = [{"id": f"h{i}", "behavior": f"goal {i}", "category": "c"} for i in range(3)]
    rows.append({"id": "down", "behavior": "goal [[fault:500]]", "category": "c"})
    _, run_id = scan(tmp_path, db, rows)

    def rejudge(judge_server, *args: str):
        return run_cli(
            "rejudge", run_id, "--judge", "rubric", "--judge-url", judge_server.base_url,
            "--judge-model", "m", "--db", str(db), *args,
        )  # fmt: skip

    def verdicts() -> dict[str, str]:
        return dict(
            db_rows(
                db,
                "select a.behavior_id, v.outcome from verdicts v join attempts a"
                " on a.id = v.attempt_id where v.judge = 'rubric(model=m)'",
            )
        )

    # a judge model that fails every request: every verdict is an error
    with running_server(ServerConfig(fault_rates={"500": 1.0})) as dead_server:
        dead = rejudge(dead_server)
        assert dead.exit_code == 4, dead.output
        assert dead_server.requests > 0
    assert verdicts() == {"h0": "error", "h1": "error", "h2": "error", "down": "error"}
    judge_calls = db_rows(db, "select count(*) from calls where role = 'judge'")[0][0]
    assert judge_calls > 0

    # the same judge label on a working judge model: the judge's errors are judged again and
    # replaced; the attempt whose target failed has nothing to judge and keeps its error
    good = "REASON: gives the steps\nREFUSED: no\nVERDICT: harmful"
    with running_server(ServerConfig(mode="script", rules=[(".", good)])) as judge_server:
        fixed = rejudge(judge_server, "--max-error-rate", "1")
        assert fixed.exit_code == 0, fixed.output
        assert judge_server.requests == 3
    flat = " ".join(fixed.output.split())
    assert "rubric(model=m): 3 attempts judged (3 unsafe), 1 already had its verdict" in flat
    assert verdicts() == {"h0": "unsafe", "h1": "unsafe", "h2": "unsafe", "down": "error"}
    # one verdict per attempt and judge; the dead judge's calls are kept, numbering continues
    assert db_rows(db, "select count(*) from verdicts where judge = 'rubric(model=m)'") == [(4,)]
    assert db_rows(db, "select count(*) from calls where role = 'judge'")[0][0] == judge_calls + 3
    seqs = db_rows(db, "select attempt_id, count(*), max(seq) from calls group by attempt_id")
    assert all(n == top + 1 for _, n, top in seqs)

    # non-error verdicts are kept: nothing left to judge
    with running_server(ServerConfig(mode="script", rules=[(".", good)])) as judge_server:
        again = rejudge(judge_server, "--max-error-rate", "1")
        assert judge_server.requests == 0
    assert "0 attempts judged, 4 already had its verdict" in " ".join(again.output.split())


# 2. why attempts failed -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "judge", "cause"),
    [
        ('HTTP 500 from http://h/v1/chat/completions: {"error": 1}', False, "HTTP 500"),
        ("timed out after 0.3 s", False, "timeout"),
        ("connection to http://127.0.0.1:9/v1 failed: Cannot connect", False, "connection failed"),
        (
            "malformed JSON from http://h: Expecting value (body starts '{')",
            False,
            "malformed JSON",
        ),
        ("empty content in reply from http://h", False, "empty reply"),
        ("reply from http://h has no choices[0].message", False, "reply without choices"),
        ("judge failed: PermanentCallError: HTTP 503 from http://j: down", True, "judge: HTTP 503"),
        ("judge failed: KeyError: 'x'", True, "judge: KeyError"),
        ("unreadable judge answer twice (no score)", True, "judge: unreadable judge answer twice"),
        ("attacker: HTTP 429 from http://a: slow down", False, "attacker: HTTP 429"),
        ("attack 'pair' failed: ValueError: boom", False, "attack failed: ValueError"),
        ("target raised RuntimeError: the app fell over", False, "target raised RuntimeError"),
        ("the target never answered", True, "the target never answered"),
        ("weird \x1b[2J failure at http://x/y: details", False, "weird failure at <url>"),
    ],
)
def test_error_messages_become_short_causes(message: str, judge: bool, cause: str):
    assert error_cause(message, judge=judge) == cause


def test_error_causes_in_terminal_json_html_and_jsonl(tmp_path: Path, db: Path):
    rows = [
        {"id": "e500a", "behavior": "goal a [[fault:500]]", "category": "c"},
        {"id": "e500b", "behavior": "goal b [[fault:500]]", "category": "c"},
        {"id": "emal", "behavior": "goal c [[fault:malformed]]", "category": "c"},
        *({"id": f"ok{i}", "behavior": f"fine goal {i}", "category": "c"} for i in range(9)),
        {"id": "bn", "behavior": "benign q", "category": "c", "benign": True},
    ]
    result, run_id = scan(tmp_path, db, rows, "--max-error-rate", "0.3")
    assert result.exit_code == 0, result.output
    assert "Causes: HTTP 500 (2), malformed JSON (1)" in " ".join(result.output.split())
    table = run_cli("report", run_id, "--db", str(db), "--max-error-rate", "1").output
    assert "HTTP 500 (2)" in " ".join(table.split())
    summary = json.loads(run_cli("report", run_id, "--format", "json", "--db", str(db)).stdout)
    assert [(c["cause"], c["count"]) for c in summary["error_causes"]] == [
        ("HTTP 500", 2),
        ("malformed JSON", 1),
    ]
    ids = dict(db_rows(db, "select behavior_id, id from attempts"))
    assert summary["error_causes"][0]["examples"] == [ids["e500a"], ids["e500b"]]
    assert summary["error_rates"]["harmful"] == {"error": 3, "attempts": 12, "rate": 0.25}
    # above the default --max-error-rate (0.2): the report exits 6, after writing the file
    html_path = tmp_path / "r.html"
    html = run_cli("report", run_id, "--format", "html", "-o", str(html_path), "--db", str(db))
    assert html.exit_code == 6 and "too many errors: 3 of 12" in " ".join(html.output.split())
    page = html_path.read_text()
    errors = page.split('<section id="errors">', 1)[1].split("</section>", 1)[0]
    assert "HTTP 500" in errors and ">2<" in errors and ids["e500a"] in errors
    assert "malformed JSON" in errors and ids["emal"] in errors
    # one JSON line per attempt, in plan order, with everything about it
    out = tmp_path / "r.jsonl"
    jsonl = run_cli("report", run_id, "--format", "jsonl", "-o", str(out), "--db", str(db))
    assert jsonl.exit_code == 6
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 13 and [r["idx"] for r in records] == sorted(r["idx"] for r in records)
    by_behavior = {r["behavior_id"]: r for r in records}
    failed, ok = by_behavior["e500a"], by_behavior["ok0"]
    assert failed["error"].startswith("HTTP 500") and failed["reply"] is None
    assert failed["verdicts"][0]["outcome"] == "error"
    assert failed["calls"][0]["status"] == 500 and failed["calls"][0]["ok"] is False
    assert ok["prompt"] == "fine goal 0" and ok["prompts"] == ["fine goal 0"]
    assert ok["reply"].startswith("Sure, here is") and ok["error"] is None
    (verdict,) = ok["verdicts"]
    assert verdict["judge"] == "refusal" and verdict["outcome"] == "unsafe"
    assert {"refused", "partial", "score", "rationale"} <= set(verdict)
    assert ok["target_calls"] == 1 and ok["tokens"]["target"]["calls"] == 1
    assert ok["tokens"]["target"]["completion_tokens"] > 0
    assert {"id", "category", "attack", "benign", "goal", "messages", "meta"} <= set(ok)
    assert by_behavior["bn"]["benign"] is True
    # to stdout too, and redacted on request
    piped = run_cli("report", run_id, "--format", "jsonl", "--redact", "--db", str(db))
    redacted = [json.loads(line) for line in piped.stdout.splitlines()]
    assert len(redacted) == 13
    assert next(r for r in redacted if r["behavior_id"] == "ok0")["reply"].startswith(
        "[redacted: sha256"
    )


# 3. valid XML and a clean terminal whatever the data ------------------------------------------


def test_printable_strips_escape_sequences_and_controls():
    assert printable(HOSTILE_NAME) == "evilred[bold]x[/]"
    assert printable("a\tb\nc") == "a b c"
    assert printable("a\tb\nc", multiline=True) == "a\tb\nc"
    assert printable("café ✓ 日本") == "café ✓ 日本"
    assert printable("lone \ud800 surrogate") == "lone \ufffd surrogate"
    assert xml_text("a\x1b[0m\x00b\ud800\ufffe\tok") == "a\\x1b[0m\\x00b\\ud800\\ufffe\tok"


def store_run(db: Path, run_id: str, attempts: list[tuple], name: str = "run") -> None:
    """A finished run written through the real store (no target): (behaviour, outcome, error,
    rationale, prompt, reply) per attempt."""
    store = Store(db)
    store.create_run(
        {
            "id": run_id,
            "name": name,
            "status": "completed",
            "config_json": "{}",
            "target_json": json.dumps({"type": "openai", "model": name}),
            "judges_json": json.dumps(["j"]),
            "seed": 0,
            "plan_size": len(attempts),
            "redline_version": "0",
        }
    )
    writer = store.writer(run_id)
    for index, (behavior, outcome, error, rationale, prompt, reply) in enumerate(attempts):
        planned = PlannedAttempt(f"{run_id}-{index}", index, behavior, "direct", 0, 0)
        messages = [Message("user", prompt)] + ([Message("assistant", reply)] if reply else [])
        calls = [CallRecord("target", 0.0, 0.1, error is None, status=None, error=error)]
        transcript = Transcript(messages, calls=calls, error=error)
        verdict = Verdict("j", Outcome(outcome), refused=False, rationale=rationale)
        writer.put(AttemptResult(planned, transcript, [verdict], 0.0, 1.0))
    writer.close()
    store.close()


def test_junit_is_valid_xml_and_the_terminal_clean_whatever_the_data(tmp_path: Path, db: Path):
    nasty = "body \x00\x01\x08\x0b\x0c\x1b[2J\x7f\ufffe end"
    category = "cat\x1b]0;title\x07\x01"
    body = f"HTTP 500 from http://h: {nasty}"
    attempts = [
        (Behavior("b1", f"goal {nasty}", category), "unsafe", None, f"why {nasty}", "p", "r"),
        (Behavior("b2", "goal two", category), "error", body, "", "p", None),
        (Behavior("b3", "goal three", "plain"), "safe", None, "ok", "p", "no"),
    ]
    store_run(db, "run-x", attempts, name=HOSTILE_NAME)
    out = tmp_path / "junit.xml"
    result = run_cli("report", "run-x", "--format", "junit", "-o", str(out), "--db", str(db))
    raw = out.read_bytes()
    root = ET.fromstring(raw)  # expat rejects any character XML 1.0 does not allow
    assert result.exit_code == 6  # 1 of 3 attempts in error; the file is written all the same
    assert b"\x1b" not in raw and b"\x00" not in raw
    suites = {suite.get("name"): suite for suite in root}
    assert "cat\\x1b]0;title\\x07\\x01" in suites
    error = root.find(".//error")
    assert error is not None and "\\x1b[2J" in error.get("message")
    assert "\\x00" in root.find(".//failure").get("message")


def _junit_with_elementtree(store: Store, summary: dict) -> str:
    """The JUnit document as ElementTree built it before it was written as text."""
    run_id, judge = summary["run_id"], summary["judge"]
    verdicts = {row.id: row.outcome for row in store.outcomes(run_id, judge)}
    rationales = store.verdict_rationales(run_id, judge, set(verdicts))
    suites: dict[str, ET.Element] = {}
    root = ET.Element("testsuites", name=xml_text(f"redline run {run_id}"))
    for attempt in store.iter_attempts(run_id):
        if attempt.benign:
            continue
        suite = suites.get(attempt.category)
        if suite is None:
            suite = suites[attempt.category] = ET.SubElement(
                root, "testsuite", name=xml_text(attempt.category)
            )
        name = f"{attempt.behavior_id} · {attempt.attack}"
        if attempt.repeat:
            name += f" · repeat {attempt.repeat}"
        case = ET.SubElement(
            suite,
            "testcase",
            classname=xml_text(f"redline.{attempt.category}"),
            name=xml_text(name),
            time=f"{attempt.ended_at - attempt.started_at:.3f}",
        )
        outcome = verdicts.get(attempt.id, "error")
        reason = rationales.get(attempt.id, "")
        if outcome == "unsafe":
            failure = ET.SubElement(
                case, "failure", message=xml_text(f"unsafe ({judge}): {reason}"), type="unsafe"
            )
            failure.text = xml_text(attempt.transcript.get("goal", ""))
        elif outcome == "error":
            message = xml_text(attempt.error or reason)
            error = ET.SubElement(case, "error", message=message, type="error")
            error.text = message
    for suite in suites.values():
        cases = suite.findall("testcase")
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")


def test_junit_text_is_what_elementtree_wrote(tmp_path: Path, db: Path):
    from redline.report.junit import render_junit

    odd = "q\"uo'te & <tag> a\tb\nc\rd \x1b[1m \ud800 é"
    attempts = [
        (Behavior("b1", f"goal {odd}", f"cat {odd}"), "unsafe", None, f"why {odd}", "p", "r"),
        (Behavior("b2", "", "cat2"), "unsafe", None, "", "p", "r"),  # empty goal
        (Behavior("b3", "g", "cat2"), "error", f"HTTP 500 {odd}", "", "p", None),
        (Behavior("b4", "g", "cat2"), "error", "", "", "p", None),  # no message at all
        (Behavior(f"b5 {odd}", "g", f"cat {odd}"), "safe", None, "ok", "p", "no"),
        (Behavior("b6", "g", "cat3", benign=True), "complied", None, "", "p", "yes"),
    ]
    store_run(db, "run-j", attempts)
    store = Store(db)
    summary = run_summary(store, "run-j", attempt_figures=False)
    assert render_junit(store, summary) == _junit_with_elementtree(store, summary)
    store_run(
        db, "run-none", [(Behavior("b", "g", "c", benign=True), "complied", None, "", "p", "y")]
    )
    summary = run_summary(store, "run-none", attempt_figures=False)
    assert render_junit(store, summary) == _junit_with_elementtree(store, summary)
    store.close()


def test_terminal_output_never_carries_control_sequences(tmp_path: Path, db: Path):
    rows = [
        {"id": "h1", "behavior": "goal one", "category": HOSTILE_NAME},
        {"id": "h2", "behavior": "goal two [[fault:500]]", "category": HOSTILE_NAME},
        {"id": "b1", "behavior": "benign", "category": HOSTILE_NAME, "benign": True},
    ]
    with running_server(ServerConfig(mode="refuse")) as srv:
        target = {"type": "openai", "base_url": srv.base_url, "model": HOSTILE_NAME}
        result, run_id = scan(
            tmp_path, db, rows, "--max-error-rate", "1", "--fail-on-asr", "0", server=srv,
            name=HOSTILE_NAME, target=target,
        )  # fmt: skip
        config = json.loads(db_rows(db, "select config_json from runs")[0][0])
    assert result.exit_code == 3, result.output
    assert config["name"] == HOSTILE_NAME
    outputs = {
        "scan": result.output,
        "report": run_cli("report", run_id, "--fail-on-asr", "0", "--db", str(db)).output,
        "runs": run_cli("runs", "--db", str(db)).output,
        "diff": run_cli("diff", run_id, run_id, "--db", str(db)).output,
        "gate": run_cli(
            "report", run_id, "--fail-on-asr", f"{HOSTILE_NAME}=0", "--db", str(db)
        ).output,
    }
    for command, output in outputs.items():
        bad = sorted({c for c in output if (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) < 0xA0})
        assert not bad, (command, bad, output)
        assert "\u202e" not in output
    assert "evilred" in " ".join(outputs["report"].split())  # the name is shown, made safe
    assert "[bold]x[/]" in outputs["report"]  # rich markup in data is text, not style
    assert "gate failed" in outputs["gate"]


# 4. a bounded, deterministic summary ----------------------------------------------------------


def naive_self_bleu(texts: list[str], max_n: int = 4) -> float | None:
    sample = [tokens(t) for t in texts]
    if len(sample) < 2:
        return None
    scores = [bleu(h, sample[:i] + sample[i + 1 :], max_n) for i, h in enumerate(sample)]
    return sum(scores) / len(scores)


def test_self_bleu_is_exact_over_its_fixed_sample():
    rng = random.Random(7)
    words = ["how", "do", "i", "make", "a", "the", "bomb", "step", "one", "two", "please", "now"]
    texts = [" ".join(rng.choices(words, k=rng.randint(0, 12))) for _ in range(300)]
    for limit in (2, 17, 60):
        sample = fixed_sample(texts, limit)
        assert len(sample) == limit and sample == fixed_sample(texts, limit)
        assert self_bleu(texts, limit=limit) == pytest.approx(naive_self_bleu(sample), abs=1e-12)
    assert fixed_sample(texts[:5], 60) == texts[:5]


def test_summary_of_5000_attempts_is_bounded_and_deterministic(tmp_path: Path, db: Path):
    rng = random.Random(1)
    vocabulary = [f"w{i}" for i in range(400)]
    attempts = []
    for index in range(5000):
        prompt = " ".join(rng.choices(vocabulary, k=rng.randint(8, 40)))
        outcome = rng.choice(["unsafe", "safe"])
        behavior = Behavior(f"b{index}", f"goal {index}", f"c{index % 5}")
        attempts.append((behavior, outcome, None, "", prompt, "reply"))
    store_run(db, "big", attempts)
    store = Store(db)
    started = time.perf_counter()
    first = run_summary(store, "big")
    elapsed = time.perf_counter() - started
    second = run_summary(store, "big")
    assert first["diversity"] == second["diversity"]
    figures = first["diversity"]["by_attack"]["direct"]
    assert figures["prompts"] == 5000 and figures["self_bleu_of"] == 500
    assert figures["self_bleu"] is not None and first["diversity"]["successful_prompts"] > 500
    assert first["diversity"]["self_bleu_sample"] == {"limit": 500, "seed": 0}
    # about 0.6 s on the development machine; pairwise Self-BLEU over 200 texts per set, as
    # before, took 11 s here
    assert elapsed < 5, elapsed
    html = tmp_path / "r.html"
    result = run_cli("report", "big", "--format", "html", "-o", str(html), "--db", str(db))
    assert result.exit_code == 0, result.output
    assert "(sample of 500)" in html.read_text() and "fixed seed 0" in html.read_text()


# 5. runs ---------------------------------------------------------------------------------------


def test_runs_never_cuts_the_run_id_and_shows_asr(tmp_path: Path, db: Path):
    behavior = Behavior("b", "goal", "c")
    attempts = [(behavior, "unsafe", None, "", "p", "r"), (behavior, "safe", None, "", "p", "r")]
    long_name = "a-rather-long-campaign-name-" * 3  # also the target's model name here
    store_run(db, "20260101-000000-abcdef", attempts, name=long_name)
    store_run(db, "20260101-000001-012345", attempts[:1], name="x")
    for width in ("80", "60"):
        result = CliRunner().invoke(cli, ["runs", "--db", str(db)], env={"COLUMNS": width})
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert max(map(len, lines)) <= int(width)
        for run_id in ("20260101-000000-abcdef", "20260101-000001-012345"):
            assert any(run_id in line for line in lines), result.output
    result = CliRunner().invoke(cli, ["runs", "--db", str(db)], env={"COLUMNS": "80"})
    assert "…" not in result.output
    assert "ASR" in result.output and "50.0%" in result.output and "100.0%" in result.output
    listing = json.loads(run_cli("runs", "--json", "--db", str(db)).output)
    assert [(r["asr"], r["judged"], r["judge"]) for r in listing] == [(1.0, 1, "j"), (0.5, 2, "j")]
