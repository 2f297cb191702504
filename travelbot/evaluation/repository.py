"""The evaluation service's SQL, all of it: runs, cached answers, per-answer scores and pairwise judge
verdicts. Each function opens its own transaction and returns plain values; a check and the writes it
guards share one transaction."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import desc, func, insert, select, update

from travelbot.evaluation.scores import Score
from travelbot.schema import eval_answers, eval_run_answers, eval_runs, eval_scores, judge_verdicts, utc_now
from travelbot.store import Store


def on_sqlite(store: Store) -> bool:
    """Whether the store's database is SQLite."""
    return store.engine.dialect.name == "sqlite"


# ---- runs ----

def insert_run(store: Store, run: Mapping[str, Any], before_commit: Callable[[int], None]) -> int:
    """Add a run and return its id; ``before_commit(run_id)`` runs inside the transaction, so what it sets
    up is in place before another connection can see the row."""
    with store.transaction(write=True) as conn:
        run_id = int(conn.execute(insert(eval_runs).values(**run, created_at=utc_now())).inserted_primary_key[0])
        before_commit(run_id)
    return run_id


def set_run_progress(store: Store, run_id: int, progress: Mapping[str, Any]) -> None:
    with store.transaction(write=True) as conn:
        conn.execute(update(eval_runs).where(eval_runs.c.id == run_id).values(progress=progress))


def add_run_answers(store: Store, run_id: int, answer_ids: Iterable[int]) -> None:
    """Link the answers to the run; one transaction."""
    with store.transaction(write=True) as conn:
        for answer_id in answer_ids:
            conn.execute(insert(eval_run_answers).values(run_id=run_id, answer_id=answer_id))


def finish_run(store: Store, run_id: int, *, status: str, error: str | None, usage: dict[str, Any] | None) -> None:
    with store.transaction(write=True) as conn:
        conn.execute(update(eval_runs).where(eval_runs.c.id == run_id).values(
            status=status, error=error, finished_at=utc_now(), usage=usage))


def running_runs(store: Store) -> list[tuple[int, dict[str, Any] | None, Any]]:
    """(id, progress, created at) of every run marked running."""
    with store.transaction() as conn:
        return [tuple(row) for row in conn.execute(
            select(eval_runs.c.id, eval_runs.c.progress, eval_runs.c.created_at).where(
                eval_runs.c.status == "running")).all()]


def fail_running_runs(store: Store, run_ids: Sequence[int], error: str) -> None:
    """Mark failed those of the runs that are still marked running."""
    with store.transaction(write=True) as conn:
        conn.execute(update(eval_runs).where(eval_runs.c.id.in_(run_ids), eval_runs.c.status == "running").values(
            status="failed", error=error, finished_at=utc_now()))


def newest_run_id(store: Store) -> int | None:
    with store.transaction() as conn:
        return conn.scalar(select(eval_runs.c.id).order_by(desc(eval_runs.c.id)).limit(1))


def run_rows(store: Store, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` runs, newest first."""
    with store.transaction() as conn:
        return [dict(r) for r in conn.execute(select(eval_runs).order_by(desc(eval_runs.c.id)).limit(limit))
                .mappings().all()]


@dataclass
class RunRows:
    """A run's row with its answers, their scores (oldest first) and the pairwise verdicts between them."""

    run: dict[str, Any]
    answers: list[dict[str, Any]]
    scores: list[dict[str, Any]]
    verdicts: list[dict[str, Any]]


def run_rows_with_answers(store: Store, run_id: int | None) -> RunRows | None:
    """Everything stored about one run (None when there is no such run); one transaction."""
    with store.transaction() as conn:
        run = conn.execute(select(eval_runs).where(eval_runs.c.id == (run_id or -1))).mappings().first()
        if run is None:
            return None
        answer_rows = conn.execute(select(eval_answers).join(
            eval_run_answers, eval_run_answers.c.answer_id == eval_answers.c.id)
            .where(eval_run_answers.c.run_id == run_id).order_by(eval_answers.c.id)).mappings().all()
        ids = [a["id"] for a in answer_rows]
        score_rows = conn.execute(select(eval_scores).where(eval_scores.c.answer_id.in_(ids))
                                  .order_by(eval_scores.c.id)).mappings().all() if ids else []
        verdict_rows = conn.execute(select(judge_verdicts).where(
            judge_verdicts.c.answer_a.in_(ids), judge_verdicts.c.answer_b.in_(ids))
            .order_by(judge_verdicts.c.id)).mappings().all() if ids else []
    return RunRows(dict(run), [dict(r) for r in answer_rows], [dict(r) for r in score_rows],
                   [dict(r) for r in verdict_rows])


def missing_score_counts(store: Store, run_id: int) -> dict[str, int]:
    """Metric -> how many of the run's scores are missing."""
    with store.transaction() as conn:
        rows = conn.execute(
            select(eval_scores.c.metric, func.count()).join(
                eval_run_answers, eval_run_answers.c.answer_id == eval_scores.c.answer_id)
            .where(eval_run_answers.c.run_id == run_id, eval_scores.c.value.is_(None))
            .group_by(eval_scores.c.metric)).all()
    return {metric: int(n) for metric, n in rows}


# ---- answers ----

def answers_by_cache_key(store: Store, keys: Sequence[str]) -> list[dict[str, Any]]:
    with store.transaction() as conn:
        return [dict(row) for row in conn.execute(
            select(eval_answers).where(eval_answers.c.cache_key.in_(list(keys)))).mappings().all()]


def add_answers(store: Store, rows: Sequence[Mapping[str, Any]]) -> list[tuple[dict[str, Any], bool]]:
    """Store each answer unless one with its cache key is there already (another run may have written it
    meanwhile); per row, the stored row with its id and whether it was there already. One transaction."""
    stored = []
    with store.transaction(write=True) as conn:
        for row in rows:
            existing = conn.execute(select(eval_answers).where(eval_answers.c.cache_key == row["cache_key"])
                                    ).mappings().first()
            if existing is None:
                row_id = conn.execute(insert(eval_answers).values(**row)).inserted_primary_key[0]
                stored.append(({**row, "id": int(row_id)}, False))
            else:
                stored.append((dict(existing), True))
    return stored


def answer_costs(store: Store, recent: int) -> list[tuple[float, int]]:
    """(seconds, completion tokens) of the newest ``recent`` answers without an error."""
    with store.transaction() as conn:
        rows = conn.execute(select(eval_answers.c.seconds, eval_answers.c.completion_tokens)
                            .where(eval_answers.c.error.is_(None))
                            .order_by(desc(eval_answers.c.id)).limit(recent)).all()
    return [tuple(row) for row in rows]


# ---- scores and verdicts ----

def scored_metrics(store: Store, answer_ids: Collection[int], scorer: str, version: str) -> list[tuple[int, str]]:
    """(answer id, metric) of every stored score of this scorer version over the given answers."""
    with store.transaction() as conn:
        return [tuple(row) for row in conn.execute(select(eval_scores.c.answer_id, eval_scores.c.metric).where(
            eval_scores.c.answer_id.in_(list(answer_ids)), eval_scores.c.scorer == scorer,
            eval_scores.c.scorer_version == version)).all()]


def add_scores(store: Store, answer_id: int, scorer: str, version: str, scores: Sequence[Score]) -> None:
    """Store the scores of the metrics this scorer version has not stored for the answer yet; one transaction."""
    with store.transaction(write=True) as conn:
        existing = set(conn.scalars(select(eval_scores.c.metric).where(
            eval_scores.c.answer_id == answer_id, eval_scores.c.scorer == scorer,
            eval_scores.c.scorer_version == version)))
        for score in scores:
            if score.metric not in existing:
                conn.execute(insert(eval_scores).values(
                    answer_id=answer_id, scorer=scorer, scorer_version=version, metric=score.metric,
                    value=score.value, missing=score.missing, detail=score.detail, created_at=utc_now()))


def verdict_keys(store: Store, keys: Sequence[str]) -> set[str]:
    """Those of the cache keys that have a stored verdict."""
    with store.transaction() as conn:
        return set(conn.scalars(select(judge_verdicts.c.cache_key).where(
            judge_verdicts.c.cache_key.in_(list(keys))))) if keys else set()


def add_verdicts(store: Store, verdicts: Sequence[Mapping[str, Any]]) -> None:
    """Store each verdict unless one with its cache key is there already; one transaction."""
    with store.transaction(write=True) as conn:
        for verdict in verdicts:
            if conn.scalar(select(judge_verdicts.c.id).where(judge_verdicts.c.cache_key == verdict["cache_key"])
                           ) is not None:
                continue
            conn.execute(insert(judge_verdicts).values(**verdict, created_at=utc_now()))
