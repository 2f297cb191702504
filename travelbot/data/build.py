"""``travelbot data build``: one dataset per method from one source, with a manifest.

    travelbot data build --source bundled --out .travelbot/data/datasets/demo --json

Steps: load the source -> question/answer items -> drop golden-test leaks -> split -> SFT, RAFT and
preference JSONL -> manifest.json (counts, sources, content hashes, split sizes, settings, timings).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from travelbot import __version__
from travelbot.config import Settings, get_settings
from travelbot.data.corpus import all_passages, corpus_hash, load_corpus, load_folder
from travelbot.data.golden import golden_path, load_golden, recall_at_k
from travelbot.data.items import QAItem, items_from_passages, items_from_reddit
from travelbot.jsonl import read_jsonl, write_jsonl
from travelbot.data.leakage import find_leaks
from travelbot.data.preferences import (
    preferences_from_battles, preferences_from_reddit, preferences_grounded, raft_pair,
)
from travelbot.data.questions import generate_questions
from travelbot.data.raft import DOCUMENT_ORDERS, build_raft, concise_answer
from travelbot.errors import TravelbotError
from travelbot.retrieval import get_retriever


@dataclass
class BuildConfig:
    """Every setting of a build; saved in its manifest."""

    source: str = "bundled"  # bundled | reddit | a folder path
    out: str | None = None
    seed: int = 0
    generator: str = "template"  # "template" or a variant name (embedded model or an endpoint)
    heldout_fraction: float = 0.1
    raft_distractors: int = 3
    raft_oracle_fraction: float = 0.8
    raft_order: str = "retrieval"  # RAFT documents in the retriever's ranking, or "shuffled"
    raft_passage_sentences: int = 0  # trim each RAFT document to its n sentences nearest the question (0: whole)
    answer_sentences: int = 0  # answers (SFT, RAFT, grounded pairs) are the oracle's n nearest sentences (0: whole)
    leakage_threshold: float = 0.9
    ungrounded_variant: str | None = "smollm2-135m"  # writes the rejected answers of grounded pairs
    ungrounded_limit: int = 64
    reddit_file: str | None = None  # raw JSONL from `travelbot data reddit`; default the newest one
    reddit_min_score: int = 3
    reddit_min_margin: int = 5
    votes_file: str | None = None  # FastChat battle rows (JSONL) to turn into preference pairs

    def __post_init__(self) -> None:
        if not 0 <= self.heldout_fraction < 1:
            raise TravelbotError("heldout_fraction must be at least 0 and below 1.")
        if not 0 <= self.raft_oracle_fraction <= 1:
            raise TravelbotError("raft_oracle_fraction must be between 0 and 1.")
        if not 0 < self.leakage_threshold <= 1:
            raise TravelbotError("leakage_threshold must be above 0 and at most 1.")
        if self.raft_distractors < 0:
            raise TravelbotError("raft_distractors cannot be negative.")
        if self.raft_order not in DOCUMENT_ORDERS:
            raise TravelbotError(f"raft_order must be one of: {', '.join(DOCUMENT_ORDERS)}.")
        if self.raft_passage_sentences < 0 or self.answer_sentences < 0:
            raise TravelbotError("raft_passage_sentences and answer_sentences cannot be negative (0 keeps text whole).")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _split(items: list[Any], fraction: float, seed: int, key) -> tuple[list[Any], list[Any]]:
    """Seeded train/held-out split by a stable key (the same item always lands on the same side)."""
    train, heldout = [], []
    for item in items:
        draw = random.Random(f"{seed}:{key(item)}").random()
        (heldout if draw < fraction else train).append(item)
    return train, heldout


def newest_reddit_file(settings: Settings) -> Path:
    files = sorted((settings.data_dir / "raw").glob("reddit-*.jsonl"))
    if not files:
        raise TravelbotError("No Reddit data yet: run `travelbot data reddit` first, or pass --reddit-file.")
    return files[-1]


def _load_items(config: BuildConfig, settings: Settings, manifest: dict[str, Any]) -> tuple[list[QAItem], list, list]:
    """Items, the passage pool for RAFT negatives, and raw Reddit records (for proxy preferences)."""
    reddit_records: list[dict[str, Any]] = []
    if config.source == "reddit":
        path = Path(config.reddit_file) if config.reddit_file else newest_reddit_file(settings)
        reddit_records, report = read_jsonl(path)
        items = items_from_reddit(reddit_records, min_score=config.reddit_min_score)
        pool = [item.oracle for item in items]
        manifest["sources"].append({"type": "reddit", "path": str(path), "sha256": file_sha256(path),
                                    "records": len(reddit_records), "load": report.summary()})
        return items, pool, reddit_records
    if config.source == "bundled":
        documents, report = load_corpus(settings)
        kind = "corpus"
    else:
        documents, report = load_folder(Path(config.source))
        kind = "folder"
    passages = all_passages(documents)
    if not passages:
        raise TravelbotError(f"The source {config.source!r} has no usable passages ({report.refused} files refused).")
    questions, origins = generate_questions(passages, config.generator, config.seed, settings.data_dir / "cache")
    manifest["sources"].append({
        "type": kind, "path": config.source, "documents": len(documents), "passages": len(passages),
        "content_hash": corpus_hash(documents), "question_origins": origins, "load": report.summary(),
    })
    return items_from_passages(passages, questions, kind), passages, reddit_records


def build_datasets(config: BuildConfig, settings: Settings | None = None, progress=None) -> dict[str, Any]:
    """Build every dataset for ``config`` and return the manifest (also written beside the files)."""
    settings = settings or get_settings()
    say = progress or (lambda message: None)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    created = datetime.now(UTC)
    config_hash = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode()).hexdigest()[:8]
    build_id = f"{created:%Y%m%d-%H%M%S}-{Path(config.source).name or config.source}-{config_hash}"
    out = Path(config.out) if config.out else settings.data_dir / "datasets" / build_id
    manifest: dict[str, Any] = {
        "build_id": build_id, "created_at": created.isoformat(), "travelbot_version": __version__,
        "config": asdict(config), "sources": [], "datasets": {}, "notes": [],
    }

    say("Loading the source")
    items, pool, reddit_records = _load_items(config, settings, manifest)
    timings["load"] = time.perf_counter() - started

    say("Checking for golden-test leakage")
    documents, _ = load_corpus(settings)
    golden_all, golden_report = load_golden(
        golden_path(settings), known_passages={p.passage_id for p in all_passages(documents)}
    )
    golden_test = [q.question for q in golden_all if q.split == "test"]
    leaks, leakage = find_leaks([item.question for item in items], golden_test, config.leakage_threshold)
    items = [item for item, leak in zip(items, leaks) if not leak]
    manifest["leakage"] = leakage.summary()
    manifest["golden"] = {"questions": len(golden_all), "load": golden_report.summary()}
    timings["leakage"] = time.perf_counter() - started - sum(timings.values())

    train, heldout = _split(items, config.heldout_fraction, config.seed, key=lambda item: item.question)

    say("Writing SFT")
    def sft(rows: list[QAItem]) -> list[dict[str, Any]]:
        return [{"messages": [{"role": "user", "content": i.question},
                              {"role": "assistant", "content": concise_answer(i, config.answer_sentences)}],
                 "source": i.source, "oracle_id": i.oracle.passage_id} for i in rows]
    _write(out, "sft", {"train": sft(train), "heldout": sft(heldout)}, manifest)

    say("Writing RAFT (retrieving hard negatives)")
    retriever = get_retriever(pool, settings) if pool else None
    shape = {"passage_sentences": config.raft_passage_sentences, "answer_sentences": config.answer_sentences,
             "order": config.raft_order}
    raft_train = build_raft(train, retriever, config.raft_distractors, config.raft_oracle_fraction, config.seed, **shape)
    raft_heldout = build_raft(heldout, retriever, config.raft_distractors, config.raft_oracle_fraction, config.seed + 1,
                              **shape)
    _write(out, "raft", {"train": raft_train, "heldout": raft_heldout}, manifest)
    manifest["datasets"]["raft"]["with_oracle"] = sum(e["has_oracle"] for e in raft_train + raft_heldout)
    # What a RAFT variant trained on this build reads per question; chat retrieves the same shape.
    manifest["raft_shape"] = {"documents": config.raft_distractors + 1, "passage_sentences": config.raft_passage_sentences}
    timings["sft_raft"] = time.perf_counter() - started - sum(timings.values())

    say("Writing preference pairs")
    pairs = _preference_pairs(config, items, reddit_records, manifest)
    pref_train, pref_heldout = _split(pairs, config.heldout_fraction, config.seed,
                                      key=lambda p: p["prompt"][0]["content"] + p["rejected"][0]["content"])
    _write(out, "preferences", {"train": pref_train, "heldout": pref_heldout}, manifest)
    manifest["datasets"]["preferences"]["by_source"] = {
        s: sum(1 for p in pairs if p["source"] == s) for s in ("votes", "reddit", "grounded")
    }
    # The same grounded pairs as a RAFT policy sees them (documents + question; the RAFT target is chosen):
    # what DPO from a RAFT variant trains on, so its prompts match the ones it answers in chat.
    by_question = {e["question"]: e for e in raft_train + raft_heldout}
    _write(out, "raft_preferences", {
        split: [raft_pair(by_question[p["prompt"][0]["content"]], p) for p in rows
                if p["source"] == "grounded" and p["prompt"][0]["content"] in by_question]
        for split, rows in (("train", pref_train), ("heldout", pref_heldout))
    }, manifest)
    timings["preferences"] = time.perf_counter() - started - sum(timings.values())

    if config.source == "bundled" and golden_all:
        say("Measuring retrieval recall@5 on the golden set")
        corpus = get_retriever(all_passages(documents), settings)
        manifest["retrieval"] = {
            split: recall_at_k([q for q in golden_all if q.split == split], corpus, k=5) for split in ("dev", "test")
        }
        timings["retrieval"] = time.perf_counter() - started - sum(timings.values())

    manifest["timings_s"] = {k: round(v, 2) for k, v in timings.items()} | {"total": round(time.perf_counter() - started, 2)}
    manifest["out"] = str(out)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    latest = settings.data_dir / "datasets" / "LATEST"
    latest.parent.mkdir(parents=True, exist_ok=True)
    latest.write_text(str(out.resolve()), encoding="utf-8")
    return manifest


def _preference_pairs(config: BuildConfig, items: list[QAItem], reddit_records: list, manifest: dict) -> list[dict]:
    pairs: list[dict[str, Any]] = []
    if config.votes_file:
        battles, report = read_jsonl(Path(config.votes_file))
        vote_pairs, skipped = preferences_from_battles(battles)
        pairs += vote_pairs
        manifest["sources"].append({"type": "votes", "path": config.votes_file, "battles": len(battles),
                                    "skipped": skipped, "load": report.summary()})
    else:
        from travelbot.feedback.voter_quality import store_battles

        battles, left_out, _ = store_battles()  # no votes naming a model, none of a flagged voter, repeats capped
        vote_pairs, skipped = preferences_from_battles(battles)
        pairs += vote_pairs
        manifest["sources"].append({"type": "votes", "path": "store", "battles": len(battles),
                                    "skipped": {**skipped, **left_out}})
        if not battles:
            manifest["notes"].append("No votes in the store and no votes file: preference pairs come from proxies only.")
    if reddit_records:
        pairs += preferences_from_reddit(reddit_records, config.reddit_min_margin, config.reddit_min_score)
    if config.ungrounded_variant and config.ungrounded_limit > 0 and items:
        from travelbot.models import generate_batch, get_registry

        chosen = random.Random(config.seed).sample(items, min(config.ungrounded_limit, len(items)))
        variant = get_registry().variant(config.ungrounded_variant)
        answers = generate_batch(variant, [[{"role": "user", "content": i.question}] for i in chosen],
                                 batch_size=32, temperature=0.7, max_new_tokens=96, seed=config.seed)
        pairs += preferences_grounded(chosen, answers, config.answer_sentences)
    return pairs


def _write(out: Path, name: str, splits: dict[str, list[dict[str, Any]]], manifest: dict[str, Any]) -> None:
    entry: dict[str, Any] = {}
    for split, rows in splits.items():
        path = out / name / f"{split}.jsonl"
        entry[split] = {"rows": write_jsonl(path, rows), "file": str(path.relative_to(out)), "sha256": file_sha256(path)}
    manifest["datasets"][name] = entry


def load_manifest(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TravelbotError(f"Cannot read the manifest {path} ({exc}); rebuild the datasets.") from None


def list_builds(settings: Settings | None = None) -> list[dict[str, Any]]:
    """Manifests of earlier builds, newest first."""
    root = (settings or get_settings()).data_dir / "datasets"
    manifests = []
    for path in sorted(root.glob("*/manifest.json"), reverse=True):
        try:
            manifests.append(load_manifest(path))
        except TravelbotError:
            continue
    return manifests



def build_command(config: BuildConfig) -> list[str]:
    """The ``travelbot data build`` command line that builds with this configuration."""
    args = ["data", "build"]
    for key, default in asdict(BuildConfig()).items():
        value = getattr(config, key)
        if key == "ungrounded_variant" and value is None:
            value = "none"
        if value != default:
            option = "--votes" if key == "votes_file" else "--" + key.replace("_", "-")
            args += [option, str(value)]
    return args


def submit_build(config: BuildConfig) -> int:
    """Queue the build as a job (a child process that outlives the page and the server); return the job id."""
    from travelbot import jobs

    if config.source not in ("bundled", "reddit") and not Path(config.source).is_dir():  # refused now, not in the job
        raise TravelbotError(f"{config.source} is not a folder; give bundled, reddit, or a folder of .md, .txt, .pdf "
                             "or .html files.")
    return jobs.submit("data", f"{config.source} · {config.generator} · seed {config.seed}",
                       [*build_command(config), "--job-id", "{job_id}"], config=asdict(config), device="cpu")
