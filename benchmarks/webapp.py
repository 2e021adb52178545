"""Response times of the web app's pages on a large store (default 100,000 attempts).

Builds a synthetic store in a temporary SQLite file (bulk-inserted rows: one run, 12
categories x 10 attacks, benign look-alikes, transcripts of a few hundred characters, PAIR-like
attacker logs in some, two judges' verdicts, one to three calls per attempt, human labels on
some), serves the app with uvicorn in a thread, and times GETs of each page: the first request
(cold: right after the app starts, while it warms its caches of the newest runs on a thread)
and then ``--repeat`` more (warm), as median and p95, and as
a ratio to the baseline timed in the same run (``/static/app.css`` from the same server). The
issue's goal: every page under 300 ms on a 100,000-attempt store.

Usage: python benchmarks/webapp.py [--attempts 100000] [--repeat 7] [--json] [--db PATH]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from redline.store import Store
from redline.web import WebSettings, create_app
from redline.web.serving import free_port, serving

RUN_ID = "bench-run"
JUDGES = ("refusal", "harm")
CATEGORIES = [
    "cybercrime", "chemical_biological", "weapons", "harassment", "hate", "self_harm",
    "sexual_content", "fraud", "privacy", "misinformation", "illegal_drugs", "violence",
]  # fmt: skip
ATTACKS = [
    "direct", "base64", "leetspeak", "rot13", "template(style=fiction)",
    "template(style=dev_mode)", "template(style=research)", "many_shot(shots=8)",
    "pair(depth=3,streams=2)", "crescendo(max_turns=4)",
]  # fmt: skip
WORDS = [
    "the", "a", "of", "to", "and", "in", "for", "with", "on", "how", "make", "build",
    "explain", "step", "steps", "guide", "detailed", "chemistry", "network", "access",
    "system", "file", "server", "password", "account", "data", "script", "code", "tool",
    "process", "method", "material", "safe", "legal", "policy", "information", "research",
]  # fmt: skip
REFUSALS = [
    "I'm sorry, but I can't help with that request.",
    "I can't assist with that. If you're interested in the topic, I can share safety info.",
    "I won't provide instructions for that; it could cause serious harm.",
]
NEEDLE = "zanzibar-quokka"
"""A phrase in a few replies only, for the search benchmark."""


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def build_store(path: Path, attempts: int, seed: int = 0) -> dict[str, Any]:
    """A store at ``path`` with one run of ``attempts`` synthetic attempts; what was built."""
    Store(path).close()  # the schema, every migration
    rng = random.Random(seed)
    behaviours_per_category = max(1, attempts // (len(CATEGORIES) * len(ATTACKS)))
    behaviours = []
    for c, category in enumerate(CATEGORIES):
        for b in range(behaviours_per_category):
            benign = b % 10 == 9
            goal = ("Explain the safety history of " if benign else "Give steps to ") + words(
                rng, 12
            )
            behaviours.append((f"{category}-{b:04d}", category, benign, goal, c))
    now = time.time() - 86400
    attempt_rows, verdict_rows, call_rows, label_rows = [], [], [], []
    idx = 0
    while idx < attempts:
        behaviour_id, category, benign, goal, _ = behaviours[
            (idx // len(ATTACKS)) % len(behaviours)
        ]
        attack = ATTACKS[idx % len(ATTACKS)]
        attempt_id = f"{idx:08x}{rng.getrandbits(96):024x}"
        prompt = f"{goal}. {words(rng, rng.randint(15, 40))}"
        complied = rng.random() < (0.7 if benign else 0.25)
        failed = rng.random() < 0.02
        reply = (
            f"Sure, here is a detailed answer. {words(rng, rng.randint(30, 70))}"
            if complied
            else rng.choice(REFUSALS)
        )
        if idx % 997 == 0:
            reply += f" {NEEDLE}"
        messages = [{"role": "user", "content": prompt}]
        if not failed:
            messages.append({"role": "assistant", "content": reply})
        document: dict[str, Any] = {"messages": messages, "goal": goal}
        calls = 1
        if attack.startswith("pair"):
            document["meta"] = {
                "log": [
                    {"depth": d, "score": rng.randint(1, 10), "prompt": words(rng, 20)}
                    for d in range(1, 4)
                ],
                "queries_to_success": None,
                "pruned": 0,
            }
            calls = 3
        started = now + idx * 0.05
        duration = rng.uniform(0.2, 3.0)
        error = "target failed: HTTP 500 after 3 retries" if failed else None
        attempt_rows.append((
            RUN_ID, attempt_id, idx, behaviour_id, category, benign, attack, 0, rng.getrandbits(31),
            json.dumps(document), error, calls, started, started + duration,
        ))  # fmt: skip
        for seq in range(calls):
            ok = not (failed and seq == calls - 1)
            call_rows.append((
                RUN_ID, attempt_id, seq, "target", started + seq * 0.1, duration / calls, ok,
                200 if ok else 500, None if ok else "HTTP 500", rng.randint(30, 200),
                rng.randint(20, 400) if ok else 0,
            ))  # fmt: skip
        for judge in JUDGES:
            agrees = rng.random() < 0.9
            says_complied = complied if agrees else not complied
            refused = not says_complied
            if failed:
                outcome, score, refused_flag = "error", None, None
            elif judge == "refusal":
                outcome = (
                    ("complied" if says_complied else "over_refusal")
                    if benign
                    else ("unsafe" if says_complied else "safe")
                )
                score, refused_flag = None, refused
            else:
                harmful = says_complied and not benign
                outcome = "unsafe" if harmful else "safe"
                score = round(rng.uniform(0.6, 1.0) if harmful else rng.uniform(0, 0.4), 3)
                refused_flag = refused
            verdict_rows.append((
                RUN_ID, attempt_id, judge, outcome, refused_flag, score,
                f"{judge}: {'refusal detected' if refused else 'no refusal found'}", None,
                started + duration, False if refused_flag else None, None,
            ))  # fmt: skip
        if rng.random() < 0.03:
            for n in range(rng.randint(1, 2)):
                label_rows.append((
                    RUN_ID, attempt_id, rng.choice(["ana", "bo"]),
                    rng.choice(["refused", "partial", "complied"]), rng.choice(["unsafe", "safe"]),
                    None, started + 3600 + n,
                ))  # fmt: skip
        idx += 1
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO runs (id, name, created_at, updated_at, status, config_json, "
            "target_json, judges_json, seed, plan_size, redline_version) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (RUN_ID, "benchmark", now, now + attempts * 0.05, "completed", "{}",
             json.dumps({"type": "openai", "model": "bench-model"}), json.dumps(list(JUDGES)),
             0, attempts, "bench"),
        )  # fmt: skip
        conn.executemany(f"INSERT INTO attempts VALUES ({','.join('?' * 14)})", attempt_rows)
        conn.executemany(f"INSERT INTO calls VALUES ({','.join('?' * 11)})", call_rows)
        conn.executemany(f"INSERT INTO verdicts VALUES ({','.join('?' * 11)})", verdict_rows)
        conn.executemany(
            "INSERT INTO human_labels (run_id, attempt_id, labeller, refusal, harm, note, "
            "created_at) VALUES (?,?,?,?,?,?,?)",
            label_rows,
        )
    return {
        "attempts": attempts,
        "verdicts": len(verdict_rows),
        "calls": len(call_rows),
        "labels": len(label_rows),
        "some_attempt": attempt_rows[len(attempt_rows) // 2][1],
        "bytes": path.stat().st_size,
    }


@contextmanager
def serve(db: Path) -> Iterator[int]:
    """The app on a free 127.0.0.1 port, in a uvicorn thread, until the block ends."""
    settings = WebSettings(db=str(db), port=free_port(), read_only=True)
    with serving(create_app(settings), settings.port):
        yield settings.port


def get(conn: http.client.HTTPConnection, path: str) -> tuple[int, float, int]:
    """GET ``path``: status, seconds, body size."""
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    return response.status, time.perf_counter() - started, len(body)


def pages(attempt_id: str) -> list[tuple[str, str]]:
    base = f"/runs/{RUN_ID}"

    def explorer(**params: Any) -> str:
        return f"{base}/attempts" + ("?" + urlencode(params) if params else "")

    return [
        ("baseline: /static/app.css", "/static/app.css"),
        ("runs list", "/"),
        ("run overview", base),
        ("overview, 2nd judge", f"{base}?judge=harm"),
        ("explorer page 1", explorer()),
        ("explorer category", explorer(category="weapons")),
        ("explorer attack", explorer(attack="pair(depth=3,streams=2)")),
        ("explorer category+attack", explorer(category="fraud", attack="base64")),
        ("explorer verdict=unsafe", explorer(verdict="unsafe")),
        ("explorer verdict=safe judge=harm", explorer(verdict="safe", judge="harm")),
        ("explorer verdict=error", explorer(verdict="error")),
        ("explorer refused look-alikes", explorer(verdict="refused_lookalike")),
        ("explorer complied look-alikes", explorer(verdict="complied_lookalike")),
        ("explorer disagree=1", explorer(disagree=1)),
        ("explorer label=labelled", explorer(label="labelled")),
        ("explorer label=unlabelled", explorer(label="unlabelled")),
        ("explorer label=unsafe", explorer(label="unsafe")),
        ("explorer label=partial", explorer(label="partial")),
        ("explorer q (common)", explorer(q="sure, here is")),
        ("explorer q (rare)", explorer(q=NEEDLE)),
        ("explorer q (none)", explorer(q="no such text anywhere")),
        ("explorer sort=-score", explorer(sort="-score")),
        ("explorer sort=category", explorer(sort="category")),
        ("explorer sort=-latency", explorer(sort="-latency")),
        (
            "explorer all filters",
            explorer(category="weapons", verdict="unsafe", q="sure", disagree=1, sort="-score"),
        ),
        ("explorer per_page=500", explorer(per_page=500)),
        ("explorer page 1000", explorer(page=1000)),
        ("explorer last page, -score", explorer(page=1000, sort="-score")),
        ("transcript", f"{base}/attempts/{attempt_id}"),
        ("transcript in a view", f"{base}/attempts/{attempt_id}?verdict=safe&sort=-score"),
        ("label", f"{base}/label"),
        ("agreement", f"{base}/agreement"),
    ]


def measure(port: int, attempt_id: str, repeat: int) -> list[dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    results = []
    for name, path in pages(attempt_id):
        status, cold, size = get(conn, path)
        if status == 404 and name in ("label", "agreement"):
            results.append({"page": name, "path": path, "skipped": "404: not built yet"})
            continue
        if status != 200:
            raise SystemExit(f"{name}: GET {path} answered {status}")
        warm = sorted(get(conn, path)[1] for _ in range(repeat))
        results.append({
            "page": name, "path": path, "bytes": size, "cold_ms": 1000 * cold,
            "median_ms": 1000 * statistics.median(warm),
            "p95_ms": 1000 * warm[min(len(warm) - 1, round(0.95 * (len(warm) - 1)))],
        })  # fmt: skip
    conn.close()
    baseline = results[0]["median_ms"]
    for row in results:
        if "median_ms" in row:
            row["ratio"] = row["median_ms"] / baseline
    return results


def table(results: list[dict[str, Any]], built: dict[str, Any], seconds: float) -> str:
    lines = [
        f"{built['attempts']:,} attempts, {built['verdicts']:,} verdicts, {built['calls']:,} "
        f"calls, {built['labels']:,} labels; {built['bytes'] / 2**20:.0f} MiB; built in "
        f"{seconds:.1f} s",
        "",
        "| page | cold ms | median ms | p95 ms | x baseline | KiB |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        if "skipped" in r:
            lines.append(f"| {r['page']} | {r['skipped']} | | | | |")
            continue
        flag = " **slow**" if max(r["median_ms"], r["p95_ms"]) > 300 else ""
        lines.append(
            f"| {r['page']}{flag} | {r['cold_ms']:.1f} | {r['median_ms']:.1f} | "
            f"{r['p95_ms']:.1f} | {r['ratio']:.0f} | {r['bytes'] / 1024:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7, help="warm requests per page")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--db", type=Path, help="keep the store here (reused if it exists)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.db"
        started = time.perf_counter()
        if args.db and db.exists():
            store = Store(db)  # migrations a kept store has not had yet
            with store.engine.connect() as conn:
                some = conn.exec_driver_sql(
                    "SELECT id FROM attempts WHERE run_id = ? ORDER BY idx LIMIT 1 OFFSET ?",
                    (RUN_ID, args.attempts // 2),
                ).scalar()
                built = {
                    name: conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar()
                    for name, table in (("attempts", "attempts"), ("verdicts", "verdicts"),
                                        ("calls", "calls"), ("labels", "human_labels"))
                }  # fmt: skip
            store.close()
            built.update(some_attempt=some, bytes=db.stat().st_size)
        else:
            built = build_store(db, args.attempts)
        seconds = time.perf_counter() - started
        with serve(db) as port:
            results = measure(port, built["some_attempt"], args.repeat)
    if args.json:
        json.dump({"store": built, "build_s": seconds, "pages": results}, sys.stdout, indent=2)
        print()
    else:
        print(table(results, built, seconds))


if __name__ == "__main__":
    main()
