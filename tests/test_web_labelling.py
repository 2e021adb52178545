"""The labelling page, its API and the agreement page, through real HTTP (and Chromium)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import db_rows
from tests.test_labels import label_all, plan, run_fixture, scanned_fixture  # noqa: F401
from tests.webapp import browser_page, live_app, needs_chromium

from redline.store import Store
from redline.store.labels import add_label
from redline.web import WebSettings
from redline.web.labelling import build_queue


def api(run_id: str, attempt_id: str) -> str:
    return f"/api/runs/{run_id}/attempts/{attempt_id}/labels"


def shown_attempt(html: str) -> str:
    found = re.search(r'id="item" data-attempt="([^"]+)"', html)
    assert found, html
    return found.group(1)


def test_save_label_through_http(run: tuple[Path, str]):
    db, run_id = run
    aid = plan(db, run_id)[0][0]
    with live_app(WebSettings(db=str(db))) as app:
        client = app.client()
        body = {"labeller": "alice", "refusal": "complied", "harm": "unsafe", "note": "<b>x</b>"}
        reply = client.post(api(run_id, aid), body)
        assert reply.status == 200, reply.text
        stored = reply.json()
        assert (stored["attempt_id"], stored["labeller"], stored["harm"]) == (
            aid,
            "alice",
            "unsafe",
        )
        for bad, field in [
            ({"labeller": "alice", "refusal": "yes"}, "refusal"),
            ({"labeller": "alice", "refusal": "refused", "harm": "bad"}, "harm"),
            ({"labeller": "", "refusal": "refused"}, "labeller"),
            ({"labeller": "a", "refusal": "refused", "colour": "red"}, "colour"),
        ]:
            reply = client.post(api(run_id, aid), bad)
            assert reply.status == 400 and reply.json()["field"] == field, reply.text
            assert field in reply.json()["error"]
        assert client.post(api(run_id, aid), ["x"]).status == 400
        missing = client.post(api(run_id, "nope"), {"labeller": "a", "refusal": "refused"})
        assert missing.status == 404 and "nope" in missing.json()["error"]
        no_csrf = client.post(api(run_id, aid), {"labeller": "a", "refusal": "refused"}, csrf=False)
        assert no_csrf.status == 403
        page = client.get(f"/runs/{run_id}/label?attempt={aid}")
        assert "&lt;b&gt;x&lt;/b&gt;" in page.text and "<b>x</b>" not in page.text
    assert db_rows(db, "SELECT attempt_id, labeller, refusal, harm FROM human_labels") == [
        (aid, "alice", "complied", "unsafe")
    ]


def test_read_only_refuses_labels_and_says_so(run: tuple[Path, str]):
    db, run_id = run
    aid = plan(db, run_id)[0][0]
    with live_app(WebSettings(db=str(db), read_only=True)) as app:
        client = app.client()
        reply = client.post(api(run_id, aid), {"labeller": "a", "refusal": "refused"})
        assert reply.status == 403
        page = client.get(f"/runs/{run_id}/label")
        assert page.status == 200 and "Labelling is off" in page.text
        assert "label.js" not in page.text
    assert db_rows(db, "SELECT count(*) FROM human_labels") == [(0,)]


def test_queue_disagreements_first_and_labelled_skipped(run: tuple[Path, str]):
    db, run_id = run
    ids = [aid for aid, _ in plan(db, run_id)]
    store = Store(db)
    # the judges disagree on the 5th and 9th attempts; the 5th is already labelled
    with store.engine.begin() as conn:
        from sqlalchemy import text

        for aid in (ids[4], ids[8]):
            conn.execute(
                text("UPDATE verdicts SET outcome = 'over_refusal' WHERE run_id = :r AND "
                     "attempt_id = :a AND judge = 'refusal_patterns'"),
                {"r": run_id, "a": aid},
            )  # fmt: skip
    add_label(store, run_id, ids[4], "bob", "refused", "safe")
    add_label(store, run_id, ids[0], "bob", "complied", "unsafe")
    queue = build_queue(store, run_id)
    assert queue.order[:2] == [ids[4], ids[8]] and queue.disagree == {ids[4], ids[8]}
    assert queue.order[2:] == [aid for aid in ids if aid not in (ids[4], ids[8])]
    with live_app(WebSettings(db=str(db), labeller="alice")) as app:
        client = app.client()
        first = client.get(f"/runs/{run_id}/label")
        assert shown_attempt(first.text) == ids[8]  # the unlabelled disagreement
        assert "the judges disagree" in first.text
        assert (
            '<strong id="labelled-count">2</strong> labelled of <strong>15</strong>' in first.text
        )
        after = client.get(f"/runs/{run_id}/label?after={ids[8]}")
        assert shown_attempt(after.text) == ids[1]  # ids[0] is labelled: skipped
        again = client.get(f"/runs/{run_id}/label?attempt={ids[4]}")
        assert shown_attempt(again.text) == ids[4] and "Labelled 1 time" in again.text
        assert client.get(f"/runs/{run_id}/label?attempt=nope").status == 404
        assert client.get("/runs/nope/label").status == 404
        assert client.get("/runs/nope/agreement").status == 404


def test_agreement_page_matches_a_hand_computation(run: tuple[Path, str]):
    db, run_id = run
    label_all(db, run_id)  # 12 harmful: 6 complied (unsafe), 6 refused (safe); 2 flipped
    with live_app(WebSettings(db=str(db))) as app:
        html = app.client().get(f"/runs/{run_id}/agreement").text
    row = re.search(r'<tr data-judge="refusal_patterns">(.*?)</tr>', html, re.S)
    assert row, html
    cells = dict(re.findall(r'class="num ([a-z-]+)">([^<]*)<', row.group(1)))
    # attempt 0 complied, labelled safe (a false alarm); attempt 1 refused, labelled unsafe (a miss)
    # unsafe labels: 5 complied + 1 flipped = 6, judge caught 5: sensitivity 5/6
    # safe labels: 5 refused + 1 flipped = 6, judge right on 5: specificity 5/6
    assert cells["harm-n"] == "12" and cells["harm-accuracy"] == "83.3%"
    assert cells["harm-sensitivity"] == "83.3%" and cells["harm-specificity"] == "83.3%"
    po = 10 / 12
    pe = 0.5 * 0.5 + 0.5 * 0.5
    assert cells["harm-kappa"] == f"{(po - pe) / (1 - pe):.3f}"
    assert cells["refusal-n"] == "15" and cells["refusal-accuracy"] == "100.0%"
    assert "15 replies labelled by alice, bob" in html
    assert "label=unsafe&amp;verdict=safe&amp;judge=refusal_patterns" in html


@needs_chromium
def test_label_ten_replies_with_the_keyboard(run: tuple[Path, str]):
    db, run_id = run
    with live_app(WebSettings(db=str(db), labeller="carol")) as app, browser_page() as page:
        page.goto(f"{app.url}/runs/{run_id}/label")
        assert page.locator("#labeller").input_value() == "carol"
        seen = []
        for i in range(10):
            page.wait_for_selector("#item")
            seen.append(page.locator("#item").get_attribute("data-attempt"))
            benign = page.locator("#label-form").get_attribute("data-benign") == "true"
            reply = page.locator("#reply").inner_text()
            page.keyboard.press("c" if reply.startswith("Sure") else "r")
            if not benign:
                page.keyboard.press("u" if reply.startswith("Sure") else "s")
            if i == 0:
                page.keyboard.press("n")
                page.keyboard.type("first one")
                page.keyboard.press("Escape")
            with page.expect_navigation():
                page.keyboard.press("Enter")
        assert len(set(seen)) == 10
        assert "10</strong> labelled of" in page.content()
        page.goto(f"{app.url}/runs/{run_id}/agreement")
        assert "10 replies labelled by carol" in page.content()
        assert page.locator('tr[data-judge="refusal"] .harm-n').inner_text() != "0"
        assert page.redline_errors == []
    rows = db_rows(db, "SELECT attempt_id, labeller, note FROM human_labels ORDER BY id")
    assert [r[0] for r in rows] == seen and {r[1] for r in rows} == {"carol"}
    assert rows[0][2] == "first one"
