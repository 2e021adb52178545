from __future__ import annotations

import json
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from tests.conftest import behaviors_file, db_rows, run_cli, small_campaign, write_config

from redline.testserver import ServerConfig, running_server

HOSTILE = (
    '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    "<b>unclosed <div><svg onload=alert(3)> </textarea></pre> ]]> --> &amp;"
)
HOSTILE_CATEGORY = "<img src=y onerror=alert(4)>"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def hostile_run(tmp_path: Path, db: Path) -> str:
    """A finished run whose every reply is hostile markup, with a hostile category name."""
    rows = [
        {"id": "h1", "behavior": "Goal one <i>", "category": HOSTILE_CATEGORY},
        {"id": "h2", "behavior": "Goal two", "category": "plain"},
        {"id": "h3", "behavior": "Please refuse", "category": "plain"},
        {"id": "b1", "behavior": "Benign one", "category": "plain", "benign": True, "pair": "h2"},
    ]
    config = ServerConfig(mode="script", reply=HOSTILE, rules=[("refuse", "I'm sorry, I can't.")])
    with running_server(config) as srv:
        data = small_campaign(srv.base_url, str(behaviors_file(tmp_path / "b.jsonl", rows)))
        data["attacks"] = ["direct", {"name": "template", "style": "fiction"}]
        result = run_cli(
            "scan", str(write_config(tmp_path / "c.yaml", data)), "--db", str(db), "--no-progress"
        )
    assert result.exit_code == 0, result.output
    return db_rows(db, "select id from runs")[0][0]


def render(db: Path, run_id: str, out: Path, *extra: str) -> str:
    result = run_cli("report", run_id, "--format", "html", "-o", str(out), "--db", str(db), *extra)
    assert result.exit_code == 0, result.output
    return out.read_text()


def test_hostile_model_output_is_escaped(hostile_run: str, db: Path, tmp_path: Path):
    html = render(db, hostile_run, tmp_path / "report.html")
    assert "window.__pwned" in html  # the reply is shown ...
    assert "<script>window.__pwned" not in html  # ... but never as markup
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    assert 'onerror="window.__pwned' not in html and "<svg onload" not in html
    assert HOSTILE_CATEGORY not in html
    assert "http://" not in html.split("<script>", 1)[0]  # nothing in the head to fetch


def test_redacted_report_hides_unsafe_replies(hostile_run: str, db: Path, tmp_path: Path):
    html = render(db, hostile_run, tmp_path / "shared.html", "--redact")
    assert "window.__pwned" not in html
    assert "[redacted: sha256 " in html and f"{len(HOSTILE)} characters]" in html


@pytest.mark.skipif(
    not CHROMIUM and not os.environ.get("CI"), reason="Debian's chromium is not installed"
)
def test_report_opens_in_headless_chromium_offline(hostile_run: str, db: Path, tmp_path: Path):
    from playwright.sync_api import sync_playwright

    path = tmp_path / "report.html"
    render(db, hostile_run, path)
    errors: list[str] = []
    requests: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(path.as_uri())
        page.wait_for_selector("#plot-heatmap .main-svg", timeout=15000)
        summary = page.locator("#summary")
        assert summary.is_visible()
        assert "attack success rate" in summary.inner_text()
        assert page.evaluate("window.__pwned === undefined")
        page.locator("#findings details").first.click()
        assert "window.__pwned" in page.locator("#findings details").first.inner_text()
        browser.close()
    assert errors == [] and dialogs == []
    assert requests == [path.as_uri()]


def test_junit_has_one_case_per_behaviour_and_attack(hostile_run: str, db: Path, tmp_path: Path):
    out = tmp_path / "redline.xml"
    result = run_cli("report", hostile_run, "--format", "junit", "-o", str(out), "--db", str(db))
    assert result.exit_code == 0
    root = ET.parse(out).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == 3 * 2  # harmful behaviours x attacks; benign ones are not cases
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert failed == {
        f"{b} · {a}" for b in ("h1", "h2") for a in ("direct", "template(style=fiction)")
    }
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert suites["plain"].get("tests") == "4" and suites["plain"].get("failures") == "2"


def test_gates_overall_and_per_category(hostile_run: str, db: Path):
    def gate(*values: str) -> int:
        args = [a for v in values for a in ("--fail-on-asr", v)]
        return run_cli("report", hostile_run, "--format", "json", "--db", str(db), *args).exit_code

    assert gate("0.9") == 0  # overall ASR is 4/6
    assert gate("0.5") == 3
    assert gate("plain=0.5") == 0  # plain: 2/4
    assert gate("plain=0.4") == 3
    assert gate(f"{HOSTILE_CATEGORY}=0.99") == 3  # 2/2
    result = run_cli("report", hostile_run, "--fail-on-asr", "nope=0.1", "--db", str(db))
    assert result.exit_code == 2 and "no category 'nope'" in result.output


def test_json_report_has_cells_efficiency_and_diversity(hostile_run: str, db: Path):
    report = json.loads(run_cli("report", hostile_run, "--format", "json", "--db", str(db)).output)
    assert report["by_category_attack"]["plain"]["direct"]["unsafe"] == 1
    assert report["queries_to_success"] == {"successes": 4, "median": 1, "mean": 1.0}
    assert report["diversity"]["successful_prompts"] == 4
    assert 0 < report["diversity"]["distinct_1"] <= 1
