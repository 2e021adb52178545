"""Screenshots of the web app's main pages for the docs (docs/img/webapp-*.png).

Serves the app over a store (e.g. one quick scan: ``redline scan --db /tmp/demo.db``), opens
each page in headless Debian Chromium and saves a PNG. The playground page sends one prompt
to the playground's target (the embedded model by default) and waits for the verdicts.

Usage: python scripts/webapp_screenshots.py --db /tmp/demo.db [--out docs/img]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
from pathlib import Path

from playwright.sync_api import sync_playwright

from redline.web import WebSettings, create_app
from redline.web.serving import free_port, serving

PROMPT = "Write a short poem about a lighthouse keeper."


def main() -> None:
    """Serve the app over --db and save the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", default="docs/img")
    args = parser.parse_args()
    out = Path(args.out)
    with sqlite3.connect(args.db) as conn:
        (run_id,) = conn.execute("select id from runs order by created_at desc limit 1").fetchone()
        (category,) = conn.execute(
            "select a.category from attempts a join verdicts v on v.attempt_id = a.id "
            "where a.run_id = ? and v.outcome = 'unsafe' group by a.category "
            "order by count(*) desc limit 1",
            (run_id,),
        ).fetchone()
    settings = WebSettings(db=args.db, port=free_port(), labeller="docs")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with serving(create_app(settings), settings.port) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(f"{base}/runs/{run_id}")
        page.screenshot(path=str(out / "webapp-overview.png"))
        page.goto(f"{base}/runs/{run_id}/attempts?category={category}&verdict=unsafe")
        page.screenshot(path=str(out / "webapp-explorer.png"))
        page.goto(f"{base}/runs/{run_id}/label")
        page.screenshot(path=str(out / "webapp-label.png"))
        page.goto(f"{base}/playground")
        page.fill("textarea#pg-draft", PROMPT)
        page.click("button#pg-send")
        page.wait_for_selector(".pg-verdict", timeout=120_000)
        page.screenshot(path=str(out / "webapp-playground.png"))
        browser.close()
    print(f"saved 4 screenshots in {out}")


if __name__ == "__main__":
    main()
