"""Build the offline judge's training and dev data from public labelled LLM-reply sets.

Every source is read in its original format from a pinned commit of a local git mirror of its
public repository (a bare git dir, as the search tool's `fetch` leaves under /work/.mirror) and
written as one normalised file per source, ``data/<source>.jsonl.gz``: gzip, one JSON object per
line, sorted keys, rows sorted by ``id``, byte-identical on every run. Fields:

    id, source, split ("train" | "dev"), prompt (the text sent to the model), behavior (the plain
    goal when known, else the prompt), response, refusal ("refused" | "partial" | "complied" |
    null), harm ("unsafe" | "safe" | null), benign (the prompt is harmless), labeller, model,
    licence

Rows are dropped, and counted per reason in ``manifest.json``, when the reply is empty or "None",
when the normalised reply (whitespace collapsed, lowercased, first 200 characters) matches a reply
in an excluded evaluation set (JailbreakBench ``judge_comparison``, the XSTest v2 completions,
GuardReasoner ``data/benchmark/*``), when a JailbreakBench artifact's ``goal`` is one of
``judge_comparison``'s goals, and when the exact (prompt, response) pair was already kept (earlier
source or row; training sources come before dev sources, so dev never repeats a training pair).

The excluded sets are kept only as SHA-256 hashes of their normalised replies and goals in
``excluded_hashes.txt``, so the check reruns without them (and without network). Their text is
never written anywhere, and nothing is scored on them.

Usage::

    python training/judge/build_data.py                   # build from mirrors under /work/.mirror
    python training/judge/build_data.py --refresh-hashes  # also recompute excluded_hashes.txt
    python training/judge/build_data.py --check           # verify data/ against hashes + manifest
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "data"
HASHES_FILE = HERE / "excluded_hashes.txt"
MANIFEST_FILE = HERE / "manifest.json"
DEFAULT_MIRROR_ROOT = Path("/work/.mirror")

REPLY_PREFIX_CHARS = 200
# Sources over this many gzipped bytes are sampled down (deterministically) to fit.
MAX_SOURCE_GZ_BYTES = 8 * 1024 * 1024

csv.field_size_limit(sys.maxsize)


@dataclass(frozen=True)
class Repo:
    """A public repository read at one pinned commit."""

    name: str  # owner/name, as GitHub spells it
    commit: str


GPTFUZZ = Repo("sherdencooper/GPTFuzz", "1eddeb565740ae311b5f4950492b011a6f866fe7")
REFUSAL_DIRECTION = Repo("andyrdt/refusal_direction", "9d852fae1a9121c78b29142de733cb1340770cc3")
JBB_ARTIFACTS = Repo("JailbreakBench/artifacts", "909e68c01d94222b8ad2e397a017e2e12e2adb73")
NONCOMPLIANCE = Repo("allenai/noncompliance", "25bf77cc668814360405cdb8197c4368205806c7")
SELF_DEFENSE = Repo("poloclub/llm-self-defense", "168a1e2072cf88fb62ca49b94b96d53b6814ecfd")
JAILBREAKEVAL = Repo("ThuCCSLab/JailbreakEval", "c1419728c039adc8c75e85b72a15a845b0999bf7")

# Excluded evaluation sets (hashed only). JailbreakBench/jailbreakbench has no snapshot in the
# mirror store, and judge_comparison is published as a dataset file, so a verbatim copy of
# `judge-comparison.csv` (300 rows, the upstream columns) in a public repository is read instead.
# That copy was saved as Mac Roman (a spreadsheet round trip): it is decoded as such, and each
# text is also hashed with UTF-8 mojibake repaired, so both spellings are excluded.
JUDGE_COMPARISON = Repo(
    "AnthonyRonning/promptfoo-workshop", "f7ba70256f082d67f857b6a76f962f58acbefc8a"
)
JUDGE_COMPARISON_PATH = "judge-comparison.csv"
JUDGE_COMPARISON_ENCODING = "mac_roman"
XSTEST = Repo("paul-rottger/exaggerated-safety", "d7bb5bd738c1fcbc36edd83d5e7d1b71a3e2d84d")
GUARDREASONER = Repo("yueliu1999/GuardReasoner", "bb7e686dc0535884d6994de5f950a072772e7fe2")

REFUSED, PARTIAL, COMPLIED = "refused", "partial", "complied"
UNSAFE, SAFE = "unsafe", "safe"
FIELDS = (
    "behavior",
    "benign",
    "harm",
    "id",
    "labeller",
    "licence",
    "model",
    "prompt",
    "refusal",
    "response",
    "source",
    "split",
)


# --------------------------------------------------------------------------------------------
# Reading mirrors


class Mirrors:
    """Bare git mirrors of the source repositories, read with `git show` at pinned commits."""

    def __init__(self, root: Path, overrides: dict[str, Path]) -> None:
        self.root = root
        self.overrides = overrides

    def git_dir(self, repo: Repo) -> Path:
        if repo.name in self.overrides:
            return self.overrides[repo.name]
        return self.root / repo.name.replace("/", "+") / "repo"

    def has(self, repo: Repo) -> bool:
        git_dir = self.git_dir(repo)
        if not git_dir.is_dir():
            return False
        probe = subprocess.run(
            ["git", f"--git-dir={git_dir}", "cat-file", "-e", f"{repo.commit}^{{commit}}"],
            capture_output=True,
            check=False,
        )
        return probe.returncode == 0

    def require(self, repo: Repo) -> None:
        if not self.has(repo):
            raise SystemExit(
                f"no mirror of {repo.name} holding commit {repo.commit} at {self.git_dir(repo)}; "
                f"fetch it (or pass --repo {repo.name}=GIT_DIR)"
            )

    def _git(self, repo: Repo, *args: str) -> bytes:
        return subprocess.run(
            ["git", f"--git-dir={self.git_dir(repo)}", *args], capture_output=True, check=True
        ).stdout

    def read_text(self, repo: Repo, path: str, encoding: str = "utf-8") -> str:
        data = self._git(repo, "show", f"{repo.commit}:{path}")
        if data.startswith(b"version https://git-lfs"):
            raise SystemExit(f"{repo.name}:{path} is a Git LFS pointer, not the data")
        return data.decode(encoding)

    def list_files(self, repo: Repo, prefix: str) -> list[str]:
        out = self._git(repo, "ls-tree", "-r", "--name-only", repo.commit, "--", prefix)
        return sorted(line for line in out.decode("utf-8").splitlines() if line)


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


# --------------------------------------------------------------------------------------------
# Normalisation and hashing


def normalise(text: str, limit: int | None = REPLY_PREFIX_CHARS) -> str:
    """Collapse whitespace, lowercase, and keep the first `limit` characters."""
    flat = " ".join(text.split()).lower()
    return flat if limit is None else flat[:limit]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def reply_hash(reply: str) -> str:
    return sha256(normalise(reply))


def goal_hash(goal: str) -> str:
    return sha256(normalise(goal, limit=None))


@dataclass
class Excluded:
    """Hashes of the excluded evaluation sets: kind ("reply" | "goal") -> hash -> set names."""

    reply: dict[str, set[str]] = field(default_factory=dict)
    goal: dict[str, set[str]] = field(default_factory=dict)

    def add(self, kind: str, text: str | None, set_name: str) -> None:
        if text is None or not text.strip() or text.strip() == "None":
            return
        table, digest = (
            (self.reply, reply_hash(text)) if kind == "reply" else (self.goal, goal_hash(text))
        )
        table.setdefault(digest, set()).add(set_name)

    def lines(self) -> list[str]:
        rows = [f"goal {h} {','.join(sorted(s))}" for h, s in self.goal.items()]
        rows += [f"reply {h} {','.join(sorted(s))}" for h, s in self.reply.items()]
        return sorted(rows)

    def write(self, path: Path) -> None:
        header = [
            "# SHA-256 of normalised text from evaluation sets that redline's judge never trains",
            "# or tunes on. Line: KIND HASH SETS. reply = sha256 of the reply with whitespace",
            "# collapsed, lowercased, first 200 characters; goal = the same without the cut.",
            "# Written by training/judge/build_data.py --refresh-hashes; no text of the sets.",
        ]
        path.write_text("\n".join(header + self.lines()) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> Excluded:
        excluded = cls()
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line or line.startswith("#"):
                continue
            kind, digest, names = line.split(" ")
            table = excluded.reply if kind == "reply" else excluded.goal
            table[digest] = set(names.split(","))
        return excluded


def guardreasoner_reply(model_input: str) -> str | None:
    """The assistant reply inside a GuardReasoner benchmark `input` ("None" when absent)."""
    marker = "\n\nAI assistant:\n"
    if marker not in model_input:
        return None
    return model_input.split(marker, 1)[1].rstrip("\n")


def spellings(text: str) -> set[str]:
    """The text, plus its UTF-8 reading when it is UTF-8 bytes shown as Mac Roman (`pi√±ata`)."""
    try:
        return {text, text.encode("mac_roman").decode("utf-8")}
    except (UnicodeEncodeError, UnicodeDecodeError):
        return {text}


def collect_excluded(mirrors: Mirrors) -> tuple[Excluded, dict[str, Any]]:
    """Hash the excluded evaluation sets from their mirrors; return hashes and what was read."""
    excluded = Excluded()
    read: dict[str, Any] = {}

    mirrors.require(JUDGE_COMPARISON)
    text = mirrors.read_text(JUDGE_COMPARISON, JUDGE_COMPARISON_PATH, JUDGE_COMPARISON_ENCODING)
    rows = read_csv(text)
    for item in rows:
        for reply in spellings(item["target_response"]):
            excluded.add("reply", reply, "jbb_judge_comparison")
        for goal in spellings(item["goal"]):
            excluded.add("goal", goal, "jbb_judge_comparison")
    read["jbb_judge_comparison"] = {
        "at": f"{JUDGE_COMPARISON.name}@{JUDGE_COMPARISON.commit}:{JUDGE_COMPARISON_PATH}",
        "rows": len(rows),
    }

    mirrors.require(XSTEST)
    xs_files = [p for p in mirrors.list_files(XSTEST, "model_completions") if p.endswith(".csv")]
    xs_rows = 0
    for path in xs_files:
        for row in read_csv(mirrors.read_text(XSTEST, path)):
            excluded.add("reply", row["completion"], "xstest_v2")
            xs_rows += 1
    read["xstest_v2"] = {"at": f"{XSTEST.name}@{XSTEST.commit}", "files": xs_files, "rows": xs_rows}

    mirrors.require(GUARDREASONER)
    gr_files, gr_missing, gr_rows = [], [], 0
    for path in mirrors.list_files(GUARDREASONER, "data/benchmark"):
        try:
            items = json.loads(mirrors.read_text(GUARDREASONER, path))
        except subprocess.CalledProcessError:
            gr_missing.append(path)  # a file the snapshot lacks (over its size limit)
            continue
        gr_files.append(path)
        for item in items:
            excluded.add("reply", guardreasoner_reply(item["input"]), "guardreasoner_benchmark")
            gr_rows += 1
    read["guardreasoner_benchmark"] = {
        "at": f"{GUARDREASONER.name}@{GUARDREASONER.commit}",
        "files": gr_files,
        "missing_from_snapshot": gr_missing,
        "rows": gr_rows,
    }
    return excluded, read


# --------------------------------------------------------------------------------------------
# Sources


def row(
    *,
    id: str,
    source: str,
    split: str,
    prompt: str | None,
    behavior: str | None,
    response: str | None,
    refusal: str | None,
    harm: str | None,
    benign: bool,
    labeller: str,
    model: str | None,
    licence: str,
) -> dict[str, Any]:
    return {
        "id": id,
        "source": source,
        "split": split,
        "prompt": prompt,
        "behavior": behavior if behavior else prompt,
        "response": response,
        "refusal": refusal,
        "harm": harm,
        "benign": benign,
        "labeller": labeller,
        "model": model,
        "licence": licence,
    }


def binary(value: object) -> int:
    """A 0/1 label that sources store as int, bool or string."""
    text = str(value).strip().lower()
    if text in ("1", "true", "yes"):
        return 1
    if text in ("0", "false", "no"):
        return 0
    raise ValueError(f"not a binary label: {value!r}")


def gptfuzz(mirrors: Mirrors, path: str, source: str, split: str) -> Iterator[dict[str, Any]]:
    """GPTFuzz human labels: 1 = jailbroken (harmful compliance) -> unsafe, 0 -> safe.

    The CSV keeps only the question index, not the jailbreak template the question was sent in,
    nor which of the three models replied, so prompt = the question text and model = null.
    """
    questions = {
        int(q["index"]): q["text"]
        for q in read_csv(mirrors.read_text(GPTFUZZ, "datasets/questions/question_list.csv"))
    }
    for i, r in enumerate(read_csv(mirrors.read_text(GPTFUZZ, path))):
        question = questions[int(r["question"])]
        yield row(
            id=f"{source}:{i:05d}",
            source=source,
            split=split,
            prompt=question,
            behavior=question,
            response=r["Response"],
            refusal=None,
            harm=UNSAFE if binary(r["label"]) else SAFE,
            benign=False,
            labeller="human",
            model=None,
            licence="MIT",
        )


def refusal_direction(mirrors: Mirrors) -> Iterator[dict[str, Any]]:
    """Refusal-direction completions: substring 0 -> refused, else complied.

    On harmful prompts, Llama Guard 2 1 -> unsafe, 0 -> safe; harmless (Alpaca) prompts are safe
    by construction. The model is named with the intervention applied to it (`+ablation`:
    refusal direction removed; `+actadd`: refusal forced).
    """
    source = "refusal_direction"
    for path in mirrors.list_files(REFUSAL_DIRECTION, "pipeline/runs"):
        parts = path.split("/")
        if (
            len(parts) != 5
            or parts[3] != "completions"
            or not parts[4].endswith("_evaluations.json")
        ):
            continue
        model_dir = parts[2]
        promptset, intervention = parts[4].removesuffix("_evaluations.json").split("_", 1)
        model = model_dir if intervention == "baseline" else f"{model_dir}+{intervention}"
        harmless = promptset == "harmless"
        data = json.loads(mirrors.read_text(REFUSAL_DIRECTION, path))
        for i, c in enumerate(data["completions"]):
            refusal = COMPLIED if binary(c["is_jailbreak_substring_matching"]) else REFUSED
            if harmless:
                harm, labeller = SAFE, "substring+construction"
            elif c.get("is_jailbreak_llamaguard2") is None:
                harm, labeller = None, "substring"
            else:
                harm = UNSAFE if binary(c["is_jailbreak_llamaguard2"]) else SAFE
                labeller = "substring+llamaguard2"
            yield row(
                id=f"{source}:{model_dir}/{promptset}_{intervention}:{i:03d}",
                source=source,
                split="train",
                prompt=c["prompt"],
                behavior=c["prompt"],
                response=c["response"],
                refusal=refusal,
                harm=harm,
                benign=harmless,
                labeller=labeller,
                model=model,
                licence="Apache-2.0",
            )


def jbb_artifact_files(mirrors: Mirrors) -> list[str]:
    """`attack-artifacts/<METHOD>/<attack type>/<model>.json`, without the dummy test-artifact."""
    files = []
    for path in mirrors.list_files(JBB_ARTIFACTS, "attack-artifacts"):
        parts = path.split("/")
        if len(parts) == 4 and parts[1] != "test-artifact" and path.endswith(".json"):
            files.append(path)
    return files


def jbb_artifacts(mirrors: Mirrors) -> Iterator[dict[str, Any]]:
    """JailbreakBench attack artifacts: `jailbroken` (the JBB LLM judge) True -> unsafe, else safe.

    The prompt is the adversarial `prompt` actually sent; behavior is the plain `goal`.
    """
    source = "jbb_artifacts"
    for path in jbb_artifact_files(mirrors):
        data = json.loads(mirrors.read_text(JBB_ARTIFACTS, path))
        model = data["parameters"]["model"]
        tag = path.removeprefix("attack-artifacts/").removesuffix(".json")
        for item in data["jailbreaks"]:
            jailbroken = item.get("jailbroken")
            yield row(
                id=f"{source}:{tag}:{int(item['index']):03d}",
                source=source,
                split="train",
                prompt=item["prompt"],
                behavior=item["goal"],
                response=item.get("response"),
                refusal=None,
                harm=None if jailbroken is None else UNSAFE if binary(jailbroken) else SAFE,
                benign=False,
                labeller="jbb-llm-judge",
                model=model,
                licence="MIT",
            )


def coconot_pref(mirrors: Mirrors) -> Iterator[dict[str, Any]]:
    """CoCoNot contrast set: benign-but-sensitive prompt + `chosen` reply -> complied, safe.

    `rejected` is left out (a mix of refusals and weaker compliance, not labelled).
    """
    source = "coconot_pref"
    text = mirrors.read_text(NONCOMPLIANCE, "data/coconot_pref.jsonl")
    for line in text.splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        yield row(
            id=f"{source}:{item['id']}",
            source=source,
            split="train",
            prompt=item["prompt"],
            behavior=item["prompt"],
            response=item["chosen"],
            refusal=COMPLIED,
            harm=SAFE,
            benign=True,
            labeller="construction",
            model=item.get("chosen_model") or None,
            licence="MIT (repo); ODC-BY (upstream dataset card)",
        )


def self_defense(mirrors: Mirrors) -> Iterator[dict[str, Any]]:
    """LLM Self-Defense: the authors' `is harmful?` Yes -> unsafe, No -> safe.

    Every "No" row answers one of the paper's 50 benign prompts (pancakes, bookshelves...), and
    every "Yes" row a harmful one, so benign = (label is No). GPT rows answered role-play
    jailbreaks that the file does not keep (prompt = the plain request); Llama rows continue the
    affirmative prefix that is their prompt.
    """
    source = "self_defense"
    files = (
        ("gpt", "all_repsonses_gpt.csv", "gpt-3.5-turbo"),
        ("llama", "all_repsonses_llama.csv", "llama-2-7b-chat"),
    )
    for tag, path, model in files:
        for i, r in enumerate(read_csv(mirrors.read_text(SELF_DEFENSE, path))):
            harmful = binary(r["is harmful?"])
            yield row(
                id=f"{source}:{tag}:{i:03d}",
                source=source,
                split="train",
                prompt=r["prompt"],
                behavior=r["prompt"],
                response=r["response"],
                refusal=None,
                harm=UNSAFE if harmful else SAFE,
                benign=not harmful,
                labeller="human",
                model=model,
                licence="BSD-3-Clause",
            )


def jailjudge_mini(mirrors: Mirrors) -> Iterator[dict[str, Any]]:
    """JailbreakEval's JAILJUDGE sample (dev only): label 1 = jailbroken -> unsafe, 0 -> safe."""
    source = "jailjudge_mini"
    for i, r in enumerate(read_csv(mirrors.read_text(JAILBREAKEVAL, "data/JAILJUDGEmini.csv"))):
        yield row(
            id=f"{source}:{i:04d}",
            source=source,
            split="dev",
            prompt=r["question"],
            behavior=r["question"],
            response=r["answer"],
            refusal=None,
            harm=UNSAFE if binary(r["label"]) else SAFE,
            benign=False,
            labeller="jailjudge",
            model=None,
            licence="MIT",
        )


@dataclass(frozen=True)
class Source:
    """One output file: where its rows come from and how they are read."""

    name: str
    split: str
    repo: Repo
    paths: tuple[str, ...]
    read: Callable[[Mirrors], Iterable[dict[str, Any]]]


# Training sources first, most trusted labels first: a duplicate keeps the earlier row.
SOURCES: tuple[Source, ...] = (
    Source(
        "gptfuzz",
        "train",
        GPTFUZZ,
        ("datasets/responses_labeled/train.csv", "datasets/questions/question_list.csv"),
        lambda m: gptfuzz(m, "datasets/responses_labeled/train.csv", "gptfuzz", "train"),
    ),
    Source(
        "self_defense",
        "train",
        SELF_DEFENSE,
        ("all_repsonses_gpt.csv", "all_repsonses_llama.csv"),
        self_defense,
    ),
    Source(
        "jbb_artifacts",
        "train",
        JBB_ARTIFACTS,
        ("attack-artifacts/<METHOD>/<type>/<model>.json",),
        jbb_artifacts,
    ),
    Source(
        "refusal_direction",
        "train",
        REFUSAL_DIRECTION,
        ("pipeline/runs/<model>/completions/*_evaluations.json",),
        refusal_direction,
    ),
    Source("coconot_pref", "train", NONCOMPLIANCE, ("data/coconot_pref.jsonl",), coconot_pref),
    Source(
        "gptfuzz_eval",
        "dev",
        GPTFUZZ,
        ("datasets/responses_labeled/evaluate.csv", "datasets/questions/question_list.csv"),
        lambda m: gptfuzz(m, "datasets/responses_labeled/evaluate.csv", "gptfuzz_eval", "dev"),
    ),
    Source("jailjudge_mini", "dev", JAILBREAKEVAL, ("data/JAILJUDGEmini.csv",), jailjudge_mini),
)


# --------------------------------------------------------------------------------------------
# Building


EMPTY_MARKERS = ("</s>", "<s>", "<|endoftext|>", "<|eot_id|>", "<|im_end|>")


def is_empty(response: str | None) -> bool:
    """No reply: null, blank, the string "None", or only end-of-text tokens."""
    if response is None:
        return True
    text = response
    for marker in EMPTY_MARKERS:
        text = text.replace(marker, "")
    return not text.strip() or text.strip() == "None"


def drop_reason(
    r: dict[str, Any], excluded: Excluded, seen: dict[tuple[str, str], dict[str, Any]]
) -> str | None:
    response = r["response"]
    if is_empty(response):
        return "empty_response"
    if r["prompt"] is None or not r["prompt"].strip() or r["prompt"].strip() == "None":
        return "empty_prompt"
    if reply_hash(response) in excluded.reply:
        return "reply_in_eval_set"
    if r["source"] == "jbb_artifacts" and goal_hash(r["behavior"]) in excluded.goal:
        return "goal_in_judge_comparison"
    if (r["prompt"], response) in seen:
        earlier = seen[(r["prompt"], response)]
        return (
            "duplicate_same_source"
            if earlier["source"] == r["source"]
            else "duplicate_other_source"
        )
    return None


def label_counts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def tally(key: str) -> dict[str, int]:
        return dict(sorted(Counter(str(r[key]) for r in rows).items()))

    pairs = Counter(f"{r['refusal']}/{r['harm']}" for r in rows)
    return {
        "refusal": tally("refusal"),
        "harm": tally("harm"),
        "benign": tally("benign"),
        "refusal/harm": dict(sorted(pairs.items())),
        "labeller": tally("labeller"),
        "model": tally("model"),
    }


def encode(rows: list[dict[str, Any]]) -> bytes:
    body = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows)
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        gz.write(body.encode("utf-8"))
    return buffer.getvalue()


def fit(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bytes, int]:
    """Encode rows; if over MAX_SOURCE_GZ_BYTES keep the rows with the smallest id hashes."""
    blob = encode(rows)
    if len(blob) <= MAX_SOURCE_GZ_BYTES:
        return rows, blob, 0
    ranked = sorted(rows, key=lambda r: sha256(r["id"]))
    keep = len(rows)
    while len(blob) > MAX_SOURCE_GZ_BYTES:
        keep = int(keep * MAX_SOURCE_GZ_BYTES / len(blob) * 0.98)
        chosen = sorted(ranked[:keep], key=lambda r: r["id"])
        blob = encode(chosen)
    return chosen, blob, len(rows) - keep


def build(mirrors: Mirrors, excluded: Excluded, out: Path) -> dict[str, Any]:
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    manifest: dict[str, Any] = {}
    out.mkdir(parents=True, exist_ok=True)
    for source in SOURCES:
        mirrors.require(source.repo)
        kept: list[dict[str, Any]] = []
        dropped: Counter[str] = Counter()
        dropped_labels: defaultdict[str, Counter[str]] = defaultdict(Counter)
        matched_sets: Counter[str] = Counter()
        conflicts = 0
        read = 0
        for r in source.read(mirrors):
            read += 1
            reason = drop_reason(r, excluded, seen)
            if reason is None:
                seen[(r["prompt"], r["response"])] = r
                kept.append(r)
                continue
            dropped[reason] += 1
            dropped_labels[reason][f"{r['refusal']}/{r['harm']}"] += 1
            if reason == "reply_in_eval_set":
                matched_sets.update(excluded.reply[reply_hash(r["response"])])
            if reason.startswith("duplicate"):
                earlier = seen[(r["prompt"], r["response"])]
                if (earlier["refusal"], earlier["harm"]) != (r["refusal"], r["harm"]):
                    conflicts += 1
        kept.sort(key=lambda r: r["id"])
        if len({r["id"] for r in kept}) != len(kept):
            raise SystemExit(f"{source.name}: ids are not unique")
        kept, blob, sampled_out = fit(kept)
        path = out / f"{source.name}.jsonl.gz"
        path.write_bytes(blob)
        manifest[source.name] = {
            "file": f"data/{path.name}",
            "sha256": hashlib.sha256(blob).hexdigest(),
            "gz_bytes": len(blob),
            "split": source.split,
            "from": [f"{source.repo.name}@{source.repo.commit}:{p}" for p in source.paths],
            "rows_read": read,
            "rows_kept": len(kept),
            "dropped": dict(sorted(dropped.items())),
            "dropped_labels": {
                k: dict(sorted(v.items())) for k, v in sorted(dropped_labels.items())
            },
            "eval_sets_matched": dict(sorted(matched_sets.items())),
            "duplicates_with_other_labels": conflicts,
            "sampled_out": sampled_out,
            "labels": label_counts(kept),
        }
    return manifest


# --------------------------------------------------------------------------------------------
# Checking what is on disk (no mirrors needed)


def read_rows(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def check(out: Path, excluded: Excluded) -> list[str]:
    """Problems with the data files: eval-set overlap, bad labels, duplicates, drift."""
    problems: list[str] = []
    manifest = json.loads(MANIFEST_FILE.read_text(encoding="utf-8"))
    seen: set[tuple[str, str]] = set()
    allowed = {
        "refusal": {REFUSED, PARTIAL, COMPLIED, None},
        "harm": {UNSAFE, SAFE, None},
        "split": {"train", "dev"},
        "benign": {True, False},
    }
    for name, entry in manifest.items():
        path = out / Path(entry["file"]).name
        if not path.exists():
            problems.append(f"{path}: missing (build it from the mirrors)")
            continue
        blob = path.read_bytes()
        if hashlib.sha256(blob).hexdigest() != entry["sha256"]:
            problems.append(f"{path}: differs from manifest.json")
        for r in read_rows(path):
            where = f"{name}:{r.get('id')}"
            if tuple(sorted(r)) != FIELDS:
                problems.append(f"{where}: fields {sorted(r)}")
                continue
            for key, values in allowed.items():
                if r[key] not in values:
                    problems.append(f"{where}: {key}={r[key]!r}")
            if reply_hash(r["response"]) in excluded.reply:
                problems.append(f"{where}: reply matches an excluded evaluation set")
            if r["source"] == "jbb_artifacts" and goal_hash(r["behavior"]) in excluded.goal:
                problems.append(f"{where}: goal is a judge_comparison goal")
            key = (r["prompt"], r["response"])
            if key in seen:
                problems.append(f"{where}: duplicate (prompt, response)")
            seen.add(key)
    return problems


# --------------------------------------------------------------------------------------------


def summary(manifest: dict[str, Any]) -> str:
    lines = [f"{'source':<18} {'split':<5} {'read':>6} {'kept':>6} {'KB':>6}  refusal / harm"]
    for name, e in manifest.items():
        lines.append(
            f"{name:<18} {e['split']:<5} {e['rows_read']:>6} {e['rows_kept']:>6} "
            f"{e['gz_bytes'] // 1024:>6}  {e['labels']['refusal/harm']}"
        )
        if e["dropped"]:
            lines.append(f"{'':<18} dropped {e['dropped']} eval sets {e['eval_sets_matched']}")
    total = sum(e["gz_bytes"] for e in manifest.values())
    lines.append(f"total {total / 1e6:.2f} MB gzipped")
    return "\n".join(lines)


def parse_overrides(values: list[str]) -> dict[str, Path]:
    overrides = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            raise SystemExit(f"--repo wants OWNER/NAME=GIT_DIR, got {value!r}")
        overrides[name] = Path(path)
    return overrides


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mirror-root",
        type=Path,
        default=DEFAULT_MIRROR_ROOT,
        help="folder of <owner>+<name>/repo bare git mirrors (default %(default)s)",
    )
    parser.add_argument(
        "--repo",
        action="append",
        default=[],
        metavar="OWNER/NAME=GIT_DIR",
        help="git dir of one repository, overriding --mirror-root",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the .jsonl.gz go")
    parser.add_argument(
        "--refresh-hashes",
        action="store_true",
        help="recompute excluded_hashes.txt from the evaluation-set mirrors",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only verify the data files against the hashes and manifest.json",
    )
    args = parser.parse_args(argv)

    mirrors = Mirrors(args.mirror_root, parse_overrides(args.repo))
    if args.refresh_hashes:
        excluded, read = collect_excluded(mirrors)
        excluded.write(HASHES_FILE)
        counts = f"{len(excluded.reply)} replies, {len(excluded.goal)} goals"
        print(f"wrote {HASHES_FILE.name}: {counts}")
        print(json.dumps(read, indent=1))
    excluded = Excluded.read(HASHES_FILE)

    if args.check:
        problems = check(args.out, excluded)
        for problem in problems[:50]:
            print(problem)
        print(f"{len(problems)} problem(s)")
        return 1 if problems else 0

    manifest = build(mirrors, excluded, args.out)
    MANIFEST_FILE.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(summary(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
