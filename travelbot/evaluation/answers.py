"""Golden-answer runs: each variant answers the golden questions, and every answer is kept.

An answer is cached under (variant, adapter revision, question, generation settings), so a re-run only
generates what changed; answers are written batch by batch, so an interrupted run resumes where it
stopped. RAFT variants read the retrieved passages first, as in chat, and those passages are kept as
the answer's contexts (Ragas needs them).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from travelbot.data.golden import GoldenQuestion
from travelbot.evaluation import repository
from travelbot.models import Variant, backend_kind, generate_batch_stats, weights_identity
from travelbot.schema import utc_now
from travelbot.store import Store

# Greedy, so the same answer every run; each variant keeps its own max_new_tokens (a RAFT-format variant needs
# room for its quotes before the final answer) unless a run sets one for all.
DEFAULT_SETTINGS = {"temperature": 0.0, "seed": 0}

Progress = Callable[[int, int, str], None]  # (done, total, what)


@dataclass
class EvalAnswer:
    """One variant's answer to one golden question, with what it cost."""

    id: int
    variant: str
    variant_revision: str
    base: str
    method: str
    question_id: str
    question: str
    golden: str | None
    answer: str
    raw_answer: str
    contexts: list[str]
    settings: dict
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    batch_size: int
    finish_reason: str
    error: str | None = None
    cached: bool = field(default=False, compare=False)

    @classmethod
    def from_row(cls, row: Any, cached: bool = False) -> EvalAnswer:
        names = {f for f in cls.__dataclass_fields__ if f != "cached"}
        return cls(**{k: row[k] for k in names}, cached=cached)


def answer_key(variant: Variant, question: GoldenQuestion, settings: dict[str, Any]) -> str:
    """The cache key of an answer: changes when the adapter, the base's weights, the back-end that generates
    (llama.cpp, transformers or an endpoint: different arithmetic, different answers), the question, what is
    retrieved or the settings change."""
    payload = {"variant": variant.name, "revision": variant.revision, "base": variant.base.name,
               "weights": weights_identity(variant.base), "backend": backend_kind(variant.base),
               "retriever": variant.retriever, "system": variant.effective_system_prompt,
               "question": question.question, "settings": variant.settings.updated(**settings).to_dict()}
    if variant.retriever:  # how many documents, and how much of each, the variant reads
        payload["documents"] = [variant.documents, variant.passage_sentences]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def cached_answers(store: Store, keys: Sequence[str]) -> dict[str, EvalAnswer]:
    if not keys:
        return {}
    return {row["cache_key"]: EvalAnswer.from_row(row, cached=True)
            for row in repository.answers_by_cache_key(store, keys)}


def _prompt(variant: Variant, question: str) -> tuple[list[dict[str, str]], list[str]]:
    from travelbot.chat import retrieve_for

    passages, content = retrieve_for(variant, question)
    messages = [{"role": "system", "content": variant.effective_system_prompt}, {"role": "user", "content": content}]
    return messages, [p.text for p in passages]


def _shown(variant: Variant, raw: str) -> str:
    if not variant.retriever:
        return raw.strip()
    from travelbot.data.raft import parse_raft_answer

    return parse_raft_answer(raw).answer


def golden_answers(
    variants: Sequence[Variant],
    questions: Sequence[GoldenQuestion],
    store: Store,
    *,
    settings: dict[str, Any] | None = None,
    batch_size: int = 8,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[EvalAnswer]:
    """Every variant's answer to every question (cached ones reused), in variant-then-question order."""
    settings = {**DEFAULT_SETTINGS, **(settings or {})}
    total = len(variants) * len(questions)
    results: dict[tuple[str, str], EvalAnswer] = {}
    done = 0
    for variant in variants:
        keys = {q.id: answer_key(variant, q, settings) for q in questions}
        cached = cached_answers(store, list(keys.values()))
        todo = [q for q in questions if keys[q.id] not in cached]
        for q in questions:
            if keys[q.id] in cached:
                results[(variant.name, q.id)] = cached[keys[q.id]]
        done += len(questions) - len(todo)
        if progress:
            progress(done, total, f"{variant.name}: {len(questions) - len(todo)} answers cached")
        for start in range(0, len(todo), max(batch_size, 1)):
            if should_stop and should_stop():
                return [results[(v.name, q.id)] for v in variants for q in questions if (v.name, q.id) in results]
            chunk = todo[start : start + max(batch_size, 1)]
            prompts = [_prompt(variant, q.question) for q in chunk]
            backend = backend_kind(variant.base)
            try:
                outputs = generate_batch_stats(variant, [m for m, _ in prompts], batch_size=len(chunk), **settings)
                errors: list[str | None] = [None] * len(chunk)
            except Exception as exc:  # noqa: BLE001 - recorded per answer; the run goes on with the next batch
                from travelbot.models import GenerationStats

                outputs = [("", GenerationStats(finish_reason="error")) for _ in chunk]
                errors = [f"{type(exc).__name__}: {exc}"] * len(chunk)
            rows = []
            for q, (messages, contexts), (raw, stats), error in zip(chunk, prompts, outputs, errors, strict=True):
                rows.append({
                    "cache_key": keys[q.id], "variant": variant.name, "variant_revision": variant.revision,
                    "base": variant.base.name, "method": variant.method, "question_id": q.id,
                    "question": q.question, "golden": q.reference_answer, "answer": _shown(variant, raw),
                    "raw_answer": raw, "contexts": contexts,
                    "settings": {**variant.settings.updated(**settings).to_dict(), "backend": backend},
                    "prompt_tokens": stats.prompt_tokens, "completion_tokens": stats.completion_tokens,
                    "seconds": round(stats.seconds, 4),  # in a padded batch, this answer's share of its time
                    "batch_size": len(chunk), "finish_reason": stats.finish_reason or "stop", "error": error,
                    "created_at": utc_now()})
            # an answer that failed is returned but not cached, so a re-run tries again
            saved = iter(repository.add_answers(store, [row for row in rows if not row["error"]]))
            stored = [EvalAnswer.from_row({**row, "id": 0}) if row["error"] else EvalAnswer.from_row(*next(saved))
                      for row in rows]
            for q, answer in zip(chunk, stored, strict=True):
                results[(variant.name, q.id)] = answer
            done += len(chunk)
            if progress:
                progress(done, total, f"{variant.name}: answered {min(start + len(chunk), len(todo))}/{len(todo)}")
    return [results[(v.name, q.id)] for v in variants for q in questions]
