"""An evaluation run: golden answers for chosen variants, then every chosen scorer, all kept in the store.

    travelbot eval --variants smollm2-135m,smollm2-raft --metrics bleu,rouge,bertscore,semantic --split dev

Scores are cached per (answer, scorer, scorer version): re-running after adding a variant or a scorer
computes only what is new, and an interrupted run picks up where it stopped. Judge verdicts are cached
by (prompt version, judge model, inputs).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import psutil

from travelbot.config import Settings, get_settings
from travelbot.errors import InvalidInputError, TravelbotError
from travelbot.data.golden import SPLITS
from travelbot.evaluation import repository
from travelbot.evaluation.answers import DEFAULT_SETTINGS, EvalAnswer, Progress, golden_answers
from travelbot.evaluation.scorers import LLM_SCORERS, REFERENCE_SCORERS, SCORER_NAMES, SCORERS
from travelbot.evaluation.scores import Score, ScorerInfo
from travelbot.models import backend_kind
from travelbot.store import Store, get_store

log = logging.getLogger(__name__)

SPLIT_CHOICES = (*SPLITS, "all")  # a golden split, or both
STOPPED = ("The process running this evaluation stopped before it finished (a server restart or a killed command); "
           "answers and scores computed so far are kept, and running it again computes only what is missing.")


@dataclass
class EvalConfig:
    """What to evaluate: variants, golden split, scorers and generation settings."""

    variants: list[str]
    scorers: list[str] = field(default_factory=lambda: ["bleu", "rouge", "bertscore", "semantic", "length"])
    split: str = "dev"
    limit: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 8

    def check(self) -> None:
        if not self.variants:
            raise InvalidInputError("Choose at least one variant to evaluate.")
        unknown = [m for m in self.scorers if m not in SCORER_NAMES]
        if unknown:
            raise InvalidInputError(f"Unknown scorer {', '.join(unknown)}; choose from {', '.join(SCORER_NAMES)}.")
        if not self.scorers:
            raise InvalidInputError("Choose at least one scorer.")
        if self.split not in SPLIT_CHOICES:
            raise InvalidInputError(f"Unknown split {self.split!r}; choose dev, test or all.")
        if "pairwise" in self.scorers and len(self.variants) < 2:
            raise InvalidInputError("Pairwise judging needs at least two variants.")
        if self.limit is not None and self.limit < 1:
            raise InvalidInputError("The question limit must be at least 1.")


@dataclass
class EvalRun:
    id: int
    answers: list[EvalAnswer]
    usage: dict[str, Any]
    missing: dict[str, int]  # metric -> scores that could not be computed in this run's answers


def _questions(split: str, limit: int | None, settings: Settings):
    from travelbot.data.golden import golden_path, load_golden

    questions, _ = load_golden(golden_path(settings), split=None if split == "all" else split)
    if not questions:
        raise TravelbotError(f"The golden set has no {split} questions.")
    return questions[:limit] if limit else questions


def _stored_scores(store: Store, answer_ids: Sequence[int], scorer: ScorerInfo) -> set[int]:
    """Answers that already have every metric of this scorer version."""
    if not answer_ids:
        return set()
    have: dict[int, set[str]] = {}
    for answer_id, metric in repository.scored_metrics(store, answer_ids, scorer.name, scorer.version):
        have.setdefault(answer_id, set()).add(metric)
    return {a for a, metrics in have.items() if set(scorer.metrics) <= metrics}


def _unscored(store: Store, answers: list[EvalAnswer], scorer: ScorerInfo) -> list[EvalAnswer]:
    """The answers still missing this scorer version's metrics (one query for the whole list)."""
    done = _stored_scores(store, [a.id for a in answers], scorer)
    return [a for a in answers if a.id not in done]


def _save_scores(store: Store, answer: EvalAnswer, scorer: ScorerInfo, scores: Sequence[Score]) -> None:
    repository.add_scores(store, answer.id, scorer.name, scorer.version, scores)


def _score_reference(store: Store, answers: list[EvalAnswer], name: str, progress: Progress | None) -> None:
    from travelbot.evaluation.metrics import MetricItem, score_answers

    scorer = SCORERS[name]
    todo = _unscored(store, answers, scorer)
    if progress:
        progress(0, len(todo), f"{name}: scoring {len(todo)} answers")
    for start in range(0, len(todo), 32):
        chunk = todo[start : start + 32]
        results = score_answers([MetricItem(a.question, a.answer, a.golden) for a in chunk], [name])
        for answer, scores in zip(chunk, results, strict=True):
            _save_scores(store, answer, scorer, scores)
        if progress:
            progress(start + len(chunk), len(todo), f"{name}: scored {start + len(chunk)}/{len(todo)}")


def _score_ragas(store: Store, answers: list[EvalAnswer], judge_endpoint, progress: Progress | None) -> None:
    from travelbot.evaluation.ragas_metrics import RAGAS, RagasEndpoint, RagasItem, ragas_available, ragas_scores

    problem = ragas_available()
    scorer = replace(RAGAS, version=f"{RAGAS.version}:{judge_endpoint.model}")
    todo = _unscored(store, answers, scorer)
    if problem:
        for answer in todo:
            _save_scores(store, answer, scorer, [Score.missing_because(m, f"unavailable: {problem}")
                                                 for m in scorer.metrics])
        return
    endpoint = RagasEndpoint(judge_endpoint.base_url, judge_endpoint.model, judge_endpoint.api_key,
                             timeout=judge_endpoint.timeout, max_retries=judge_endpoint.max_retries)
    for start in range(0, len(todo), 8):
        chunk = todo[start : start + 8]
        items = [RagasItem(a.question, a.answer, tuple(a.contexts), a.golden) for a in chunk]
        for answer, scores in zip(chunk, ragas_scores(items, endpoint, max_workers=judge_endpoint.concurrency),
                                  strict=True):
            _save_scores(store, answer, scorer, scores)
        if progress:
            progress(start + len(chunk), len(todo), f"ragas: scored {start + len(chunk)}/{len(todo)}")


def _score_judge(store: Store, answers: list[EvalAnswer], judge, progress: Progress | None) -> None:
    from travelbot.evaluation.judge import GradeItem

    scorer = judge.info  # its version names the prompt files and the judge model
    todo = _unscored(store, answers, scorer)
    for start in range(0, len(todo), 16):
        chunk = todo[start : start + 16]
        results = judge.grade([GradeItem(a.question, a.answer, a.golden) for a in chunk])
        for answer, result in zip(chunk, results, strict=True):
            detail = {"reasoning": result.reasoning, "raw": result.raw, "prompt_version": result.prompt_version}
            _save_scores(store, answer, scorer, [Score(s.metric, s.value, s.missing, {**s.detail, **detail})
                                                 for s in result.scores])
        if progress:
            progress(start + len(chunk), len(todo), f"judge: graded {start + len(chunk)}/{len(todo)}")


def _judge_pairs(store: Store, answers: list[EvalAnswer], judge, progress: Progress | None) -> None:
    from travelbot.evaluation.judge import PairItem

    by_question: dict[str, list[EvalAnswer]] = {}
    for answer in answers:
        if answer.id:
            by_question.setdefault(answer.question_id, []).append(answer)
    pairs = [(a, b) for group in by_question.values()
             for a, b in itertools.combinations(sorted(group, key=lambda x: x.variant), 2)]
    keyed = [(judge.key(PairItem(a.question, a.answer, b.answer, a.golden)), a, b) for a, b in pairs]
    done = repository.verdict_keys(store, [k for k, _, _ in keyed])
    todo = [(k, a, b) for k, a, b in keyed if k not in done]
    for start in range(0, len(todo), 16):
        chunk = todo[start : start + 16]
        results = judge.compare([PairItem(a.question, a.answer, b.answer, a.golden) for _, a, b in chunk])
        repository.add_verdicts(store, [{
            "cache_key": key, "kind": "pairwise", "question_id": a.question_id, "answer_a": a.id, "answer_b": b.id,
            "variant_a": a.variant, "variant_b": b.variant, "judge_model": judge.endpoint.model,
            "prompt_version": result.prompt_version, "winner": result.winner, "missing": result.missing,
            "consistent": result.consistent,
            "detail": {"verdicts": list(result.verdicts), "reasoning": list(result.reasoning),
                       "raw": list(result.raw), "order_missing": list(result.order_missing)},
            "usage": _usage_dict(result.usage)} for (key, a, b), result in zip(chunk, results, strict=True)])
        if progress:
            progress(start + len(chunk), len(todo), f"pairwise: judged {start + len(chunk)}/{len(todo)}")


def _usage_dict(usage: Any) -> dict[str, Any]:
    return usage.to_dict() if hasattr(usage, "to_dict") else dict(usage or {})


def evaluate(config: EvalConfig, *, store: Store | None = None, settings: Settings | None = None,
             progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
             on_start: Callable[[int], None] | None = None) -> EvalRun:
    """Run (or resume) an evaluation and return its answers; scores and verdicts are in the store.

    Progress is also written to the run's row (so any page can show it); ``should_stop`` ends the run after the
    current batch and Ctrl-C (or a job's cancel) at once, keeping everything computed so far."""
    from travelbot.models import get_registry

    config.check()
    settings = settings or get_settings()
    store = store or get_store(settings)
    registry = get_registry(settings)
    variants = [registry.variant(name) for name in dict.fromkeys(config.variants)]
    questions = _questions(config.split, config.limit, settings)
    judge = None
    if any(m in LLM_SCORERS for m in config.scorers):
        from travelbot.evaluation.endpoint import JudgeEndpoint
        from travelbot.evaluation.judge import Judge

        judge = Judge(JudgeEndpoint.from_settings(settings))
    length = {"max_new_tokens": settings.max_new_tokens} if settings.max_new_tokens > 0 else {}  # else each its own
    generation = {**DEFAULT_SETTINGS, **length, **config.settings}
    owner = _this_process()
    stop_event = threading.Event()

    def running_here(run_id: int) -> None:  # live before the row is visible, for reconcile_runs
        _stop_flags[run_id] = stop_event

    run_id = repository.insert_run(store, {
        "status": "running", "variants": [v.name for v in variants], "split": config.split,
        "question_limit": config.limit, "scorers": list(config.scorers), "settings": generation,
        "progress": {"owner": owner},
        "judge": {"model": judge.endpoint.model, "base_url": judge.endpoint.base_url} if judge else None,
        "backends": {v.name: backend_kind(v.base, settings) for v in variants},
    }, before_commit=running_here)
    status, error = "failed", None
    outer_progress, outer_stop = progress, should_stop
    last = [0.0]

    def progress(done: int, total: int, what: str) -> None:
        now = time.monotonic()
        if now - last[0] > 0.5 or done >= total:  # a row update at most twice a second
            last[0] = now
            repository.set_run_progress(store, run_id, {"owner": owner, "done": done, "total": total, "what": what})
        if outer_progress:
            outer_progress(done, total, what)

    def should_stop() -> bool:
        return stop_event.is_set() or bool(outer_stop and outer_stop())

    if on_start:
        on_start(run_id)
    try:
        answers = golden_answers(variants, questions, store, settings=generation, batch_size=config.batch_size,
                                 progress=progress, should_stop=should_stop)
        repository.add_run_answers(store, run_id, {a.id for a in answers if a.id})
        scored = [a for a in answers if a.id and not a.error]
        for name in config.scorers:
            if should_stop and should_stop():
                status = "cancelled"
                break
            if name in REFERENCE_SCORERS:
                _score_reference(store, scored, name, progress)
            elif name == "ragas":
                _score_ragas(store, scored, judge.endpoint, progress)
            elif name == "judge":
                _score_judge(store, scored, judge, progress)
            elif name == "pairwise":
                _judge_pairs(store, scored, judge, progress)
        else:
            status = "cancelled" if should_stop and should_stop() else "succeeded"
        return EvalRun(run_id, answers, _usage_dict(judge.usage) if judge else {}, missing_counts(store, run_id))
    except KeyboardInterrupt:  # Ctrl-C, or the job's cancel (SIGTERM): what was computed is kept
        status = "cancelled"
        raise
    except TravelbotError as exc:
        error = str(exc)
        raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        try:
            repository.finish_run(store, run_id, status=status, error=error,
                                  usage=_usage_dict(judge.usage) if judge else None)
        finally:  # only once its row is final, so reconcile_runs never takes it for abandoned
            _stop_flags.pop(run_id, None)


_stop_flags: dict[int, threading.Event] = {}  # the runs going on in this process


def _this_process() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _gone(run_id: int, owner: dict[str, Any] | None, created_at: Any, sqlite: bool) -> bool:
    """Whether the process that ran this run has ended (a run of another machine's process counts as alive,
    except on a SQLite file: only this machine writes it, so another host name is an earlier container)."""
    if not owner:  # started before runs recorded their process
        return True
    if owner.get("host") != socket.gethostname():
        return sqlite
    if owner.get("pid") == os.getpid():
        return run_id not in _stop_flags
    try:
        proc = psutil.Process(owner["pid"])
        # a process created after the run is not its owner: the pid was reused
        return proc.status() == psutil.STATUS_ZOMBIE or proc.create_time() > created_at.timestamp() + 2
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:  # alive, another user's: leave its run alone
        return False


def reconcile_runs(store: Store | None = None) -> list[int]:
    """Mark failed every "running" run whose process is gone (kept answers and scores are untouched);
    returns their ids. Call it when a server or the CLI starts."""
    store = store or get_store()
    running = repository.running_runs(store)
    sqlite = repository.on_sqlite(store)
    gone = [run_id for run_id, progress, created in running
            if _gone(run_id, (progress or {}).get("owner"), created, sqlite)]
    if gone:
        repository.fail_running_runs(store, gone, STOPPED)
        log.warning("Evaluation runs %s were left running by a process that is gone; marked failed.", gone)
    return gone


def eval_command(config: EvalConfig) -> list[str]:
    """The ``travelbot eval`` command line that runs this configuration."""
    config.check()
    args = ["eval", "--variants", ",".join(config.variants), "--scorers", ",".join(config.scorers),
            "--split", config.split, "--batch-size", str(config.batch_size)]
    if config.limit:
        args += ["--limit", str(config.limit)]
    for key, value in sorted(config.settings.items()):
        args += ["--set", f"{key}={json.dumps(value)}"]
    return args


def submit_evaluation(config: EvalConfig, environment: dict[str, str | None] | None = None,
                      settings: Settings | None = None) -> int:
    """Queue the run as a job (a child process; closing the page or restarting the server does not lose it) and
    return the job id; the run's id appears in the job's progress once it starts. ``environment`` reaches only
    the child (the judge typed on a page, with its key); ``settings`` are those the child will see, to refuse
    at once what it would refuse (an unknown variant, no judge model)."""
    from travelbot import jobs
    from travelbot.models import get_registry
    from travelbot.models.loading import choose_device

    settings = settings or get_settings()
    for name in config.variants:  # what would fail at once in the job fails here, with the same sentence
        get_registry(settings).variant(name)
    if any(m in LLM_SCORERS for m in config.scorers):
        from travelbot.evaluation.endpoint import JudgeEndpoint

        JudgeEndpoint.from_settings(settings)
    names = ", ".join(config.variants)
    name = f"{config.split} · {len(config.variants)} variant{'s' if len(config.variants) != 1 else ''} · {names}"
    return jobs.submit("eval", name, [*eval_command(config), "--job-id", "{job_id}"],
                       config={"variants": list(config.variants), "scorers": list(config.scorers), "split": config.split,
                               "limit": config.limit, "settings": dict(config.settings),
                               "batch_size": config.batch_size},
                       device=choose_device(settings.device), environment=environment)


def missing_counts(store: Store, run_id: int) -> dict[str, int]:
    """Per metric, how many of the run's scores could not be computed."""
    return repository.missing_score_counts(store, run_id)
