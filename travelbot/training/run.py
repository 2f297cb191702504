"""Run one training: folder, config, progress log, the method's story, a behaviour check, outputs.

    travelbot train qlora --base smollm2-135m --preset cpu-demo --set max_steps=5

Everything a run produced sits in ``$TRAVELBOT_HOME/runs/<name>/``: ``config.json``, ``run.json``
(dataset manifest hash, code revision, timings, notes), ``metrics.json``, ``trainer_log.jsonl`` and
the ``adapter/`` (or ``reward_model/``).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
import traceback
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from travelbot.config import get_settings
from travelbot.errors import TravelbotError
from travelbot.jobs import read_log_events
from travelbot.training.common import ProgressLog, RunPaths, code_revision, dataset_dir, starting_variant
from travelbot.training.config import TrainConfig
from travelbot.training.methods import TRAINING_METHODS


def _f1(answer: str, reference: str) -> float:
    a, r = Counter(re.findall(r"\w+", answer.lower())), Counter(re.findall(r"\w+", reference.lower()))
    overlap = sum((a & r).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(a.values()), overlap / sum(r.values())
    return 2 * precision * recall / (precision + recall)


def behaviour_check(start, adapter_dir: Path, questions: int = 8, max_new_tokens: int = 48) -> dict[str, Any]:
    """Greedy answers of the start variant and the new one on golden dev questions: how many changed,
    and unigram F1 against the reference answers before and after."""
    from travelbot.data.golden import load_golden
    from travelbot.data.raft import parse_raft_answer, raft_prompt
    from travelbot.models import generate_batch, get_registry

    golden, _ = load_golden(split="dev")
    golden = golden[:questions]
    new = next(v for v in get_registry().variants().values() if v.adapter and v.adapter.resolve() == adapter_dir.resolve())
    if new.retriever:
        from travelbot.data.corpus import corpus_retriever

        retriever = corpus_retriever()
        prompts = [[{"role": "user", "content": raft_prompt(q.question, [
            _as_passage(h) for h in retriever.retrieve(q.question, 3)])}] for q in golden]
    else:
        prompts = [[{"role": "user", "content": q.question}] for q in golden]
    settings = {"temperature": 0.0, "max_new_tokens": max_new_tokens}
    before = generate_batch(start, prompts, batch_size=4, **settings)
    after = generate_batch(new, prompts, batch_size=4, **settings)
    final = (lambda text: parse_raft_answer(text).answer) if new.retriever else (lambda text: text)
    return {
        "questions": len(golden),
        "changed": sum(b.strip() != a.strip() for b, a in zip(before, after)),
        "reference_f1_before": round(sum(_f1(final(b), q.reference_answer) for b, q in zip(before, golden)) / len(golden), 4),
        "reference_f1_after": round(sum(_f1(final(a), q.reference_answer) for a, q in zip(after, golden)) / len(golden), 4),
        "example": {"question": golden[0].question, "before": before[0], "after": after[0]} if golden else None,
    }


def _as_passage(hit):
    from travelbot.retrieval import Passage

    return Passage(hit.passage_id, hit.doc_id, hit.title, hit.section, hit.text)


def run_training(config: TrainConfig, job_id: int | None = None, check_behaviour: bool = True) -> dict[str, Any]:
    """Train, save and describe one run; returns its summary (also in run.json)."""
    settings = get_settings()
    paths = RunPaths(settings.runs_dir / config.name)
    if (paths.root / "run.json").exists():
        raise TravelbotError(f"A run named {config.name!r} already exists; choose another --name.")
    paths.root.mkdir(parents=True, exist_ok=True)
    config.save(paths.root / "config.json")
    progress = ProgressLog(paths.log, job_id)
    progress.write({"event": "start", "method": config.method, "name": config.name, "max_steps": config.max_steps})
    notes: list[str] = []
    started = time.perf_counter()
    summary: dict[str, Any] = {"name": config.name, "method": config.method, "preset": config.preset,
                               "started_at": datetime.now(UTC).isoformat(), "code_revision": code_revision()}
    def phase(name: str, detail: str | None = None) -> None:
        """What the run is doing before and after its steps, for the progress bar."""
        progress.write({"event": "phase", "phase": name, "detail": detail})

    try:
        start = starting_variant(config)
        data = dataset_dir(config, settings, say=lambda message: phase("building the dataset (first run only)", message))
        phase("loading the model")
        manifest = (data / "manifest.json").read_bytes()
        summary |= {"start_variant": start.name, "base": start.base.name, "dataset": str(data),
                    "dataset_manifest_sha256": hashlib.sha256(manifest).hexdigest(),
                    "dataset_build": json.loads(manifest).get("build_id")}
        method = TRAINING_METHODS[config.method]
        metrics = method.load()(config, start, data, paths, progress, notes)
        seen = [e["tokens_seen"] for e in read_log_events(paths.log) if e.get("tokens_seen")]
        if seen:  # what the run cost in tokens, for the verdict's training cost
            metrics.setdefault("tokens_seen", max(seen))
        if check_behaviour and method.variant_method and config.behaviour_questions > 0:
            phase("comparing answers before and after on golden questions")
            metrics["behaviour"] = behaviour_check(start, paths.adapter, config.behaviour_questions)
    except Exception as exc:
        error = str(exc) if isinstance(exc, TravelbotError) else f"{type(exc).__name__}: {exc}"
        summary |= {"status": "failed", "error": error, "notes": notes, "traceback": traceback.format_exc()[-4000:]}
        (paths.root / "run.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
        shutil.rmtree(paths.root / "checkpoints", ignore_errors=True)
        progress.write({"event": "end", "status": "failed", "error": error})
        raise TravelbotError(f"Training {config.name} failed: {error}") from exc
    shutil.rmtree(paths.root / "checkpoints", ignore_errors=True)
    summary |= {"status": "succeeded", "seconds": round(time.perf_counter() - started, 1), "notes": notes,
                "finished_at": datetime.now(UTC).isoformat(), "metrics": metrics, "output": str(paths.root)}
    (paths.root / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str), encoding="utf-8")
    (paths.root / "run.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    progress.write({"event": "end", "status": "succeeded", "error": None, "metrics": metrics})
    return summary
