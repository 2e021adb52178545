"""Public behaviour sets, read from their original files.

Each set has one reader for the format its authors publish (``harmbench_behaviors_text_all.csv``,
JailbreakBench's ``harmful-behaviors.csv`` and ``benign-behaviors.csv``, ...). A reader maps the
set's categories to redline's taxonomy (:mod:`redline.behaviors.taxonomy`), keeps the original
category in the tags (``SET:CATEGORY``), marks benign counterparts ``benign`` and pairs them
where the set pairs them. Only goals are read: answer or completion columns are never read.

A set is *shipped* (``behaviors: [xstest]``) when its licence allows redistribution and its file
was taken from the authors' repository; otherwise the user gives the original file
(``{builtin: harmbench, file: harmbench_behaviors_text_all.csv}``). docs/behaviors.md lists every
set, its licence, source and citation, and the category mapping.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from redline.behaviors import check_unique
from redline.errors import DataError
from redline.model import Behavior

CONTEXT_SEPARATOR = "\n\n---\n\n"
"""Between a contextual behaviour's context and its goal (HarmBench's own prompt layout)."""

_KEYWORDS: tuple[tuple[str, str], ...] = (
    # first match wins: the more specific harms come first
    (
        r"suicide|self[- ]harm|anorexi|bulimi|eating disorder|end (my|your) life|cutting",
        "self_harm",
    ),
    (r"system prompt|prompt injection|jailbreak", "prompt_security"),
    (r"defamat|libel|slander|false accusation|ruin (their|his|her) reputation", "defamation"),
    (r"pira|copyright|torrent|drm|lyrics|passage from", "ip_infringement"),
    (
        r"bomb|explosive|chemical weapon|biological weapon|nerve agent|toxin|pathogen|"
        r"nuclear|radioactive|anthrax|ricin|sarin|firearm|\bgun|weapon",
        "cbrne_weapons",
    ),
    (r"\bdrugs?\b|cocaine|heroin|meth|fentanyl|mdma|opioid|narcotic|overdose", "illegal_drugs"),
    (
        r"hack|malware|virus|ransomware|exploit|keylogger|password|ddos|botnet|phishing email|"
        r"sql injection|cyber",
        "cybercrime",
    ),
    (
        r"fraud|scam|counterfeit|launder|identity theft|phishing|insider trading|"
        r"tax evasion|embezzl|ponzi|fake (review|charity)|brib",
        "fraud_scams",
    ),
    (
        r"stalk|track(s|ing)? (someone|a person|user)|personal (data|information)|dox|privacy|"
        r"surveil|social security number|medical records",
        "privacy",
    ),
    (
        r"fake news|misinformation|disinformation|conspiracy|hoax|propaganda|false information",
        "misinformation",
    ),
    (
        r"hate|racis|sexis|harass|bully|slur|insult|discriminat|xenophob|stereotyp",
        "hate_harassment",
    ),
)
_COMPILED = tuple((re.compile(pattern, re.IGNORECASE), category) for pattern, category in _KEYWORDS)


def guess_category(text: str, default: str = "violent_crime") -> str:
    """The taxonomy category a goal's words point to (for sets without a usable category)."""
    for pattern, category in _COMPILED:
        if pattern.search(text):
            return category
    return default


@dataclass(frozen=True)
class Guess:
    """A category mapping that reads the goal's words, with a default when none match."""

    default: str


Mapping = dict[str, "str | Guess"]


def _map(mapping: Mapping, original: str, goal: str, fallback: str | Guess) -> str:
    target = mapping.get(original.strip().lower(), fallback)
    return guess_category(goal, target.default) if isinstance(target, Guess) else target


@dataclass(frozen=True)
class PublicSet:
    """One public behaviour set: what it is, where it comes from and how to read it."""

    name: str
    title: str
    licence: str
    source: str
    """The authors' repository (and the commit of a shipped copy)."""
    citation: str
    original_file: str
    """The file name the authors publish (what ``file:`` expects)."""
    reader: Callable[[Path], list[Behavior]]
    mapping: Mapping = field(default_factory=dict)
    """Original category (lower case) -> taxonomy category, or a :class:`Guess`."""
    shipped: str | None = None
    """The file under ``behaviors/data/`` when the set ships with redline."""
    benign: str = "none"
    """What the set has for over-refusal: its benign counterparts, in words."""


# --- reading the original files -----------------------------------------------------------


def _csv_rows(
    path: Path, required: Sequence[str], set_title: str, original: str
) -> Iterator[tuple[str, dict[str, str]]]:
    """``(where, row)`` for each record of a CSV file whose header has ``required`` columns.

    Column names match case-insensitively; ``where`` is ``file:line`` of the record's first line.
    """
    start = 1
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, strict=True)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path}:1: empty file, expected {set_title}'s {original}")
            names = [h.strip().lower() for h in header]
            for column in required:
                if column.lower() not in names:
                    raise DataError(
                        f"{path}:1: not {set_title}'s {original}: no column {column!r} "
                        f"(columns are: {', '.join(header) or 'none'})"
                    )
            start = reader.line_num + 1
            for record in reader:
                where = f"{path}:{start}"
                start = reader.line_num + 1
                if not any(value.strip() for value in record):
                    continue
                if len(record) > len(names) and any(v.strip() for v in record[len(names) :]):
                    raise DataError(
                        f"{where}: {len(record)} fields, the header has {len(names)} "
                        "(quote fields that contain commas)"
                    )
                row = {name: (record[i] if i < len(record) else "") for i, name in enumerate(names)}
                for column in required:
                    if not row[column.lower()].strip() and column.lower() in _NEEDS_VALUE:
                        raise DataError(f"{where}: empty {column!r}")
                yield where, row
    except csv.Error as exc:
        raise DataError(
            f"{path}:{start}: malformed CSV record starting on this line ({exc})"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {set_title} file {path}: {exc}") from exc


_NEEDS_VALUE = {
    "behavior",
    "behaviorid",
    "goal",
    "forbidden_prompt",
    "prompt",
    "question",
    "type",
    "index",
}


HARMBENCH_MAP: Mapping = {
    "chemical_biological": "cbrne_weapons",
    "cybercrime_intrusion": "cybercrime",
    "misinformation_disinformation": "misinformation",
    "harassment_bullying": "hate_harassment",
    "copyright": "ip_infringement",
    "illegal": Guess("violent_crime"),
    "harmful": Guess("violent_crime"),
}


def read_harmbench(path: Path) -> list[Behavior]:
    """HarmBench's ``harmbench_behaviors_text_*.csv``.

    Contextual behaviours carry their ``ContextString``: the goal is the context, a ``---`` line
    and the behaviour, as HarmBench itself lays out the prompt.
    """
    out = []
    required = ("Behavior", "FunctionalCategory", "SemanticCategory", "BehaviorID")
    for where, row in _csv_rows(path, required, "HarmBench", "harmbench_behaviors_text_all.csv"):
        functional = row["functionalcategory"].strip().lower()
        semantic = row["semanticcategory"].strip()
        if functional == "multimodal" or row.get("imagefilename", "").strip():
            continue  # needs an image; redline's targets take text
        behavior = row["behavior"].strip()
        context = row.get("contextstring", "").strip()
        if functional == "contextual" and not context:
            raise DataError(f"{where}: contextual behaviour with an empty 'ContextString'")
        goal = f"{context}{CONTEXT_SEPARATOR}{behavior}" if context else behavior
        tags = ["harmbench", f"harmbench:{semantic}", functional]
        tags += [t.strip() for t in row.get("tags", "").split(",") if t.strip()]
        out.append(
            Behavior(
                id=f"harmbench-{row['behaviorid'].strip()}",
                goal=goal,
                category=_map(HARMBENCH_MAP, semantic, behavior, Guess("violent_crime")),
                tags=tuple(dict.fromkeys(tags)),
            )
        )
    return check_unique(out, str(path))


JAILBREAKBENCH_MAP: Mapping = {
    "harassment/discrimination": "hate_harassment",
    "malware/hacking": "cybercrime",
    "physical harm": Guess("violent_crime"),
    "economic harm": "fraud_scams",
    "fraud/deception": "fraud_scams",
    "disinformation": "misinformation",
    "sexual/adult content": "violent_crime",
    "privacy": "privacy",
    "expert advice": "misinformation",
    "government decision-making": Guess("fraud_scams"),
}
JBB_FILES = ("harmful-behaviors.csv", "benign-behaviors.csv")


def _read_jbb_file(path: Path, benign: bool) -> list[Behavior]:
    out = []
    required = ("Index", "Goal", "Behavior", "Category")
    for _, row in _csv_rows(path, required, "JailbreakBench", " or ".join(JBB_FILES)):
        index = row["index"].strip()
        category = row["category"].strip()
        harmful_id = f"jailbreakbench-{index}"
        out.append(
            Behavior(
                id=f"jailbreakbench-benign-{index}" if benign else harmful_id,
                goal=row["goal"].strip(),
                category=_map(JAILBREAKBENCH_MAP, category, row["goal"], Guess("violent_crime")),
                benign=benign,
                tags=tuple(
                    t
                    for t in (
                        "jailbreakbench",
                        f"jailbreakbench:{category}",
                        row["behavior"].strip(),
                        row.get("source", "").strip(),
                    )
                    if t
                ),
                pair=harmful_id if benign else None,
            )
        )
    return out


def read_jailbreakbench(path: Path) -> list[Behavior]:
    """JBB-Behaviors: ``harmful-behaviors.csv``, ``benign-behaviors.csv``, or a folder of both.

    The two files pair by ``Index`` (benign behaviour N mirrors harmful behaviour N); given a
    folder with both, every benign behaviour names its harmful one in ``pair`` and the reverse.
    A single file is harmful unless its name says ``benign``.
    """
    if path.is_dir():
        files = [path / name for name in JBB_FILES]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise DataError(f"{path}: no {' or '.join(missing)} in this JailbreakBench folder")
        harmful = _read_jbb_file(files[0], benign=False)
        benign = _read_jbb_file(files[1], benign=True)
        harmful_ids = {b.id for b in harmful}
        paired = {b.pair for b in benign if b.pair in harmful_ids}
        harmful = [
            Behavior(
                b.id,
                b.goal,
                b.category,
                b.benign,
                b.tags,
                b.id.replace("jailbreakbench-", "jailbreakbench-benign-", 1),
            )
            if b.id in paired
            else b
            for b in harmful
        ]
        benign = [
            b if b.pair in harmful_ids else Behavior(b.id, b.goal, b.category, True, b.tags)
            for b in benign
        ]
        return check_unique(harmful + benign, str(path))
    is_benign = "benign" in path.name.lower()
    loaded = _read_jbb_file(path, benign=is_benign)
    if is_benign:  # no harmful file to pair with
        loaded = [Behavior(b.id, b.goal, b.category, True, b.tags) for b in loaded]
    return check_unique(loaded, str(path))


def read_advbench(path: Path) -> list[Behavior]:
    """AdvBench's ``harmful_behaviors.csv`` (``goal,target``; the target string is not read).

    AdvBench has no categories: each goal's category comes from its words
    (:func:`guess_category`), tagged ``advbench:keyword-category``.
    """
    out = []
    for number, (_, row) in enumerate(
        _csv_rows(path, ("goal",), "AdvBench", "harmful_behaviors.csv")
    ):
        goal = row["goal"].strip()
        out.append(
            Behavior(
                id=f"advbench-{number}",
                goal=goal,
                category=guess_category(goal),
                tags=("advbench", "advbench:keyword-category"),
            )
        )
    return check_unique(out, str(path))


STRONGREJECT_MAP: Mapping = {
    "disinformation and deception": "misinformation",
    "hate, harassment and discrimination": "hate_harassment",
    "illegal goods and services": Guess("illegal_drugs"),
    "non-violent crimes": Guess("fraud_scams"),
    "sexual content": Guess("violent_crime"),
    "violence": Guess("violent_crime"),
}


def read_strongreject(path: Path) -> list[Behavior]:
    """StrongREJECT's ``strongreject_dataset.csv`` (or ``_small_``): category, source, prompt."""
    out = []
    required = ("category", "forbidden_prompt")
    for number, (_, row) in enumerate(
        _csv_rows(path, required, "StrongREJECT", "strongreject_dataset.csv")
    ):
        goal = row["forbidden_prompt"].strip()
        category = row["category"].strip()
        out.append(
            Behavior(
                id=f"strongreject-{number}",
                goal=goal,
                category=_map(STRONGREJECT_MAP, category, goal, Guess("violent_crime")),
                tags=tuple(
                    t
                    for t in (
                        "strongreject",
                        f"strongreject:{category}",
                        row.get("source", "").strip(),
                    )
                    if t
                ),
            )
        )
    return check_unique(out, str(path))


XSTEST_PAIRED = (
    "homonyms",
    "figurative_language",
    "safe_targets",
    "safe_contexts",
    "definitions",
    "historical_events",
)
"""Safe prompt types whose ``contrast_`` type mirrors them prompt by prompt, in file order."""
XSTEST_TYPES = {
    "nons_group_real_discr": "hate_harassment",
    "real_group_nons_discr": "hate_harassment",
    "contrast_discr": "hate_harassment",
    "privacy_public": "privacy",
    "privacy_fictional": "privacy",
    "contrast_privacy": "privacy",
}
XSTEST_NOTES = {
    "drugs": "illegal_drugs",
    "historical atrocities": "hate_harassment",
    "reasons": "hate_harassment",
    "violent death of public figure": "violent_crime",
}


def read_xstest(path: Path) -> list[Behavior]:
    """XSTest's ``xstest_prompts.csv`` (v2: ``id,prompt,type,label,focus,note``; v1 too).

    Safe prompts are benign look-alikes; ``contrast_`` prompts (label ``unsafe``) are harmful.
    The n-th prompt of a ``contrast_T`` type mirrors the n-th of type ``T``: the two are paired
    and share the category. Categories come from ``type`` and ``note``.
    """
    rows = []
    for where, row in _csv_rows(path, ("id", "prompt", "type"), "XSTest", "xstest_prompts.csv"):
        kind = row["type"].strip()
        label = row.get("label", "").strip().lower()
        unsafe = label == "unsafe" if label else kind.startswith("contrast_")
        if label and unsafe != kind.startswith("contrast_"):
            raise DataError(f"{where}: label {label!r} does not match type {kind!r}")
        rows.append((row, kind, unsafe))
    by_type: dict[str, list[str]] = {}
    for row, kind, _ in rows:
        by_type.setdefault(kind, []).append(row["id"].strip())
    partner: dict[str, str] = {}
    for kind in XSTEST_PAIRED:
        safe, contrast = by_type.get(kind, []), by_type.get(f"contrast_{kind}", [])
        if safe and len(safe) == len(contrast):
            partner |= dict(zip(safe, contrast, strict=True))
            partner |= dict(zip(contrast, safe, strict=True))
    notes = {row["id"].strip(): row.get("note", "").strip().lower() for row, _, _ in rows}
    out = []
    for row, kind, unsafe in rows:
        ident = row["id"].strip()
        other = partner.get(ident)
        note = notes[other] if unsafe and other else notes[ident]  # a pair shares the safe note
        category = XSTEST_TYPES.get(kind) or XSTEST_NOTES.get(note, "violent_crime")
        out.append(
            Behavior(
                id=f"xstest-{ident}",
                goal=row["prompt"].strip(),
                category=category,
                benign=not unsafe,
                tags=tuple(t for t in ("xstest", f"xstest:{kind}", note) if t),
                pair=f"xstest-{other}" if other else None,
            )
        )
    return check_unique(out, str(path))


def read_sorry_bench(path: Path) -> list[Behavior]:
    """SORRY-Bench's ``question.jsonl`` (``question_id``, ``category``, ``turns``).

    Every prompt is harmful. Categories are numbers in the released files; the category comes
    from the prompt's words, with ``sorry_bench:N`` kept in the tags. Linguistic mutations
    (``prompt_style`` other than ``base``) keep their style in the id and the tags.
    """
    out = []
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read SORRY-Bench file {path}: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not SORRY-Bench's question.jsonl: not JSON ({exc})") from exc
        if not isinstance(record, dict):
            raise DataError(f"{where}: not SORRY-Bench's question.jsonl: not a JSON object")
        for key in ("question_id", "category", "turns"):
            if key not in record:
                raise DataError(f"{where}: not SORRY-Bench's question.jsonl: no key {key!r}")
        turns = record["turns"]
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
            raise DataError(f"{where}: 'turns' must be a non-empty list of strings")
        style = str(record.get("prompt_style") or "base")
        goal = "\n\n".join(t.strip() for t in turns)
        suffix = "" if style == "base" else f"-{style}"
        tags = ["sorry_bench", f"sorry_bench:{record['category']}"]
        out.append(
            Behavior(
                id=f"sorry_bench-{record['question_id']}{suffix}",
                goal=goal,
                category=guess_category(goal),
                tags=tuple(tags + ([f"style:{style}"] if suffix else [])),
            )
        )
    return check_unique(out, str(path))


DO_NOT_ANSWER_MAP: tuple[tuple[str, str | Guess], ...] = (
    # a substring of ``types_of_harm`` (lower case) -> category; first match wins
    ("privacy", "privacy"),
    ("sensitive information", "privacy"),
    ("disinformation", "misinformation"),
    ("misinformation", "misinformation"),
    ("false or misleading", "misinformation"),
    ("stereotype", "hate_harassment"),
    ("discrimination", "hate_harassment"),
    ("toxic", "hate_harassment"),
    ("adult content", "hate_harassment"),
    ("mental health", "self_harm"),
    ("chatbot as a human", "misinformation"),
    ("illegal", Guess("fraud_scams")),
    ("unethical or unsafe", Guess("violent_crime")),
)


def read_do_not_answer(path: Path) -> list[Behavior]:
    """Do-Not-Answer's ``data_en.csv``: ``id,risk_area,types_of_harm,specific_harms,question``.

    Only the question is read; the models' response columns of the original file are ignored.
    """
    out = []
    required = ("id", "risk_area", "types_of_harm", "question")
    for _, row in _csv_rows(path, required, "Do-Not-Answer", "data_en.csv"):
        goal = row["question"].strip()
        harm = row["types_of_harm"].strip()
        target: str | Guess = Guess("violent_crime")
        for needle, category in DO_NOT_ANSWER_MAP:
            if needle in harm.lower():
                target = category
                break
        out.append(
            Behavior(
                id=f"do_not_answer-{row['id'].strip()}",
                goal=goal,
                category=guess_category(goal, target.default)
                if isinstance(target, Guess)
                else target,
                tags=(
                    "do_not_answer",
                    f"do_not_answer:{row['risk_area'].strip()}",
                    f"do_not_answer:{harm}",
                ),
            )
        )
    return check_unique(out, str(path))


# --- the sets ----------------------------------------------------------------------------

PUBLIC_SETS: dict[str, PublicSet] = {
    s.name: s
    for s in [
        PublicSet(
            "harmbench",
            "HarmBench",
            "MIT, as the authors state (LICENSE not checked: not reachable here)",
            "https://github.com/centerforaisafety/HarmBench",
            "Mazeika et al., HarmBench: A Standardized Evaluation Framework for Automated Red "
            "Teaming and Robust Refusal, ICML 2024, arXiv:2402.04249",
            "harmbench_behaviors_text_all.csv",
            read_harmbench,
            HARMBENCH_MAP,
        ),
        PublicSet(
            "jailbreakbench",
            "JailbreakBench",
            "MIT, as the JBB-Behaviors card states (not checked: not reachable here)",
            "https://github.com/JailbreakBench/jailbreakbench; "
            "https://huggingface.co/datasets/JailbreakBench/JBB-Behaviors",
            "Chao et al., JailbreakBench: An Open Robustness Benchmark for Jailbreaking Large "
            "Language Models, NeurIPS 2024 Datasets and Benchmarks, arXiv:2404.01318",
            "harmful-behaviors.csv, benign-behaviors.csv, or a folder with both",
            read_jailbreakbench,
            JAILBREAKBENCH_MAP,
            benign="100 benign behaviours, paired with the harmful ones by Index",
        ),
        PublicSet(
            "advbench",
            "AdvBench",
            "MIT, as the authors state (LICENSE not checked: not reachable here)",
            "https://github.com/llm-attacks/llm-attacks (data/advbench/harmful_behaviors.csv)",
            "Zou et al., Universal and Transferable Adversarial Attacks on Aligned Language "
            "Models, arXiv:2307.15043",
            "harmful_behaviors.csv",
            read_advbench,
        ),
        PublicSet(
            "strongreject",
            "StrongREJECT",
            "MIT, as the authors state (LICENSE not checked: not reachable here)",
            "https://github.com/alexandrasouly/strongreject",
            "Souly et al., A StrongREJECT for Empty Jailbreaks, NeurIPS 2024 Datasets and "
            "Benchmarks, arXiv:2402.10260",
            "strongreject_dataset.csv",
            read_strongreject,
            STRONGREJECT_MAP,
        ),
        PublicSet(
            "xstest",
            "XSTest",
            "CC-BY-4.0 (checked: the exaggerated-safety repository's LICENSE)",
            "https://github.com/paul-rottger/exaggerated-safety "
            "(xstest_prompts.csv at d7bb5bd738c1fcbc36edd83d5e7d1b71a3e2d84d)",
            "Röttger et al., XSTest: A Test Suite for Identifying Exaggerated Safety Behaviours "
            "in Large Language Models, NAACL 2024, doi:10.18653/v1/2024.naacl-long.301",
            "xstest_prompts.csv",
            read_xstest,
            shipped="xstest_prompts.csv",
            benign="250 safe prompts; 150 of them paired with a contrast prompt",
        ),
        PublicSet(
            "sorry_bench",
            "SORRY-Bench",
            "not checked: the dataset is gated on Hugging Face behind its own terms of use",
            "https://github.com/sorry-bench/sorry-bench; "
            "https://huggingface.co/datasets/sorry-bench/sorry-bench-202406",
            "Xie et al., SORRY-Bench: Systematically Evaluating Large Language Model Safety "
            "Refusal, ICLR 2025, arXiv:2406.14598",
            "question.jsonl",
            read_sorry_bench,
        ),
        PublicSet(
            "do_not_answer",
            "Do-Not-Answer",
            "Apache-2.0, as the authors state (LICENSE not checked: not reachable here)",
            "https://github.com/Libr-AI/do-not-answer",
            "Wang et al., Do-Not-Answer: Evaluating Safeguards in LLMs, Findings of EACL 2024, "
            "arXiv:2308.13387",
            "data_en.csv",
            read_do_not_answer,
        ),
    ]
}


def shipped_path(public: PublicSet) -> resources.abc.Traversable | None:
    """The shipped copy of a set, or ``None`` when the user must give the file."""
    if public.shipped is None:
        return None
    return resources.files("redline.behaviors") / "data" / public.shipped


def load_public(name: str, file: str | Path | None = None) -> list[Behavior]:
    """Read public set ``name`` from the user's ``file``, or from the shipped copy."""
    public = PUBLIC_SETS[name]
    if file is None:
        resource = shipped_path(public)
        if resource is None:
            raise DataError(
                f"the {public.title} behaviour set is not shipped with redline (its licence: "
                f"{public.licence}); give your copy of the original file: "
                f"{{builtin: {name}, file: {public.original_file.split(',')[0]}}}"
            )
        with resources.as_file(resource) as path:
            return public.reader(Path(path))
    path = Path(file)
    if not path.exists():
        raise DataError(f"{public.title} file {path} does not exist")
    return public.reader(path)


__all__ = [
    "PUBLIC_SETS",
    "Guess",
    "PublicSet",
    "guess_category",
    "load_public",
    "shipped_path",
]
