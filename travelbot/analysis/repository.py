"""The analysis service's SQL, all of it: imported judgment sets, and the stored evaluation answers,
scores and judge verdicts that agreement analysis reads. Each function opens its own transaction and
returns plain values."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select

from travelbot.schema import eval_answers, eval_scores, judge_verdicts, judgments, utc_now
from travelbot.store import Store

JUDGMENT_FIELDS = ("item_id", "prompt", "response_a", "response_b", "reference", "labels", "judges", "model_a",
                   "model_b")


def save_judgment_set(store: Store, set_name: str, source: str, items: Sequence[Mapping[str, Any]], *,
                      replace: bool) -> None:
    """Add the items (each with ``JUDGMENT_FIELDS``) under ``set_name``, first dropping the set's old items
    when ``replace``; one transaction."""
    with store.transaction(write=True) as conn:
        if replace:
            conn.execute(delete(judgments).where(judgments.c.set_name == set_name))
        for item in items:
            conn.execute(insert(judgments).values(
                set_name=set_name, **{k: item[k] for k in JUDGMENT_FIELDS}, source=source, created_at=utc_now()))


def judgment_set_sizes(store: Store) -> dict[str, int]:
    """Set name -> number of items."""
    with store.transaction() as conn:
        return dict(conn.execute(select(judgments.c.set_name, func.count()).group_by(judgments.c.set_name)).all())


def judgment_rows(store: Store, set_name: str) -> list[dict[str, Any]]:
    """The set's items (``JUDGMENT_FIELDS``) in the order they were imported."""
    with store.transaction() as conn:
        rows = conn.execute(select(judgments).where(judgments.c.set_name == set_name)
                            .order_by(judgments.c.id)).mappings().all()
    return [{k: row[k] for k in JUDGMENT_FIELDS} for row in rows]


def answer_keys(store: Store, *, ids: Collection[int] | None = None, variants: Collection[str] | None = None,
                question_ids: Collection[str] | None = None) -> dict[int, tuple[str, str]]:
    """Evaluation answer id -> (variant, question id), narrowed to the given ids, variants and questions
    (``None``: any)."""
    query = select(eval_answers.c.id, eval_answers.c.variant, eval_answers.c.question_id)
    if ids is not None:
        query = query.where(eval_answers.c.id.in_(list(ids)))
    if variants is not None:
        query = query.where(eval_answers.c.variant.in_(list(variants)))
    if question_ids is not None:
        query = query.where(eval_answers.c.question_id.in_(list(question_ids)))
    with store.transaction() as conn:
        return {row.id: (row.variant, row.question_id) for row in conn.execute(query)}


def metric_scores(store: Store, metric: str | None, answer_ids: Collection[int] | None
                  ) -> list[tuple[int, str, float | None]]:
    """(answer id, metric, value) of every stored score, oldest first; of one metric unless ``metric`` is
    None, over the given answers (``None``: all)."""
    query = select(eval_scores.c.answer_id, eval_scores.c.metric, eval_scores.c.value).order_by(eval_scores.c.id)
    if answer_ids is not None:
        query = query.where(eval_scores.c.answer_id.in_(list(answer_ids)))
    if metric is not None:
        query = query.where(eval_scores.c.metric == metric)
    with store.transaction() as conn:
        return [tuple(row) for row in conn.execute(query).all()]


def metric_scores_with_variant(store: Store, metric: str, answer_ids: Collection[int]
                               ) -> list[tuple[int, float | None, str]]:
    """(answer id, value, variant) of every stored score of one metric over the given answers, oldest first."""
    with store.transaction() as conn:
        rows = conn.execute(select(eval_scores.c.answer_id, eval_scores.c.value, eval_answers.c.variant)
                            .join(eval_answers, eval_answers.c.id == eval_scores.c.answer_id)
                            .where(eval_scores.c.metric == metric, eval_scores.c.answer_id.in_(list(answer_ids)))
                            .order_by(eval_scores.c.id)).all()
    return [tuple(row) for row in rows]


def variant_metric_values(store: Store, metrics: Sequence[str], answer_ids: Collection[int] | None = None, *,
                          revisions: Mapping[str, str] | None = None) -> list[tuple[str, str, float]]:
    """(variant, metric, value) of every stored score of these metrics that has a value, over the given
    answers (``None``: all); with ``revisions`` (variant -> adapter revision) only answers of those."""
    query = select(eval_answers.c.variant, eval_scores.c.metric, eval_scores.c.value,
                   eval_answers.c.variant_revision) \
        .join(eval_answers, eval_answers.c.id == eval_scores.c.answer_id) \
        .where(eval_scores.c.metric.in_(metrics), eval_scores.c.value.is_not(None))
    if answer_ids is not None:
        query = query.where(eval_answers.c.id.in_(list(answer_ids)))
    with store.transaction() as conn:
        rows = conn.execute(query).all()
    return [(variant, metric, value) for variant, metric, value, revision in rows
            if revisions is None or revisions.get(variant) == revision]


@dataclass(frozen=True)
class PairVerdict:
    """A stored pairwise judge verdict with the text of both answers."""

    judge_model: str
    winner: str | None
    detail: dict[str, Any]
    answer_a_id: int
    answer_b_id: int
    answer_a: str
    answer_b: str


def pair_verdicts(store: Store, answer_ids: Collection[int] | None = None) -> list[PairVerdict]:
    """Every stored pairwise verdict between two of the given answers (``None``: all); one transaction."""
    with store.transaction() as conn:
        rows = conn.execute(select(judge_verdicts.c.judge_model, judge_verdicts.c.winner, judge_verdicts.c.detail,
                                   judge_verdicts.c.answer_a.label("answer_a_id"),
                                   eval_answers.c.answer.label("answer_a"), judge_verdicts.c.answer_b)
                            .join(eval_answers, eval_answers.c.id == judge_verdicts.c.answer_a)).all()
        if answer_ids is not None:
            rows = [r for r in rows if r.answer_a_id in answer_ids and r.answer_b in answer_ids]
        texts = dict(conn.execute(select(eval_answers.c.id, eval_answers.c.answer).where(
            eval_answers.c.id.in_([r.answer_b for r in rows]))).all()) if rows else {}
    return [PairVerdict(r.judge_model, r.winner, r.detail, r.answer_a_id, r.answer_b, r.answer_a,
                        texts.get(r.answer_b, "")) for r in rows]


def pairwise_outcomes(store: Store) -> list[tuple[str, str, str]]:
    """(variant A, variant B, winner "A" / "B" / "tie") of every decided pairwise judge verdict on evaluation
    answers."""
    with store.transaction() as conn:
        rows = conn.execute(select(judge_verdicts.c.variant_a, judge_verdicts.c.variant_b, judge_verdicts.c.winner)
                            .where(judge_verdicts.c.winner.is_not(None))).all()
    return [tuple(row) for row in rows]
