"""Agreement between the store's own human data (arena votes, 1–5 ratings) and its automatic scores.

- **Votes vs metrics** (pairwise): an arena battle whose question is a golden question is judged by a
  metric, which scores both first answers against the golden answer and prefers the higher score.
- **Ratings vs scores** (per answer): evaluation answers rated in the Rate tab (mean of each rater's
  latest overall score) against every stored metric score of the same answer.
- **Variants** (per system): the variants' order by mean metric score against their order by mean
  human rating, over the same golden questions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from travelbot.analysis.agreement import (
    Estimate,
    PairwiseAgreement,
    SystemAgreement,
    correlations,
    label_from_scores,
    pairwise_agreement,
    system_agreement,
)
from travelbot.schema import eval_answers, eval_scores
from travelbot.store import Store, get_store

WINNER_LABELS = {"model_a": "A", "model_b": "B", "tie": "tie", "tie (bothbad)": "tie"}


@dataclass
class StoreAgreement:
    votes: dict[str, PairwiseAgreement]  # metric -> agreement with single-question battles on golden questions
    votes_considered: int
    ratings: dict[str, dict[str, Estimate]]  # metric -> spearman / kendall / pearson with mean overall rating
    rated_answers: int
    systems: dict[str, SystemAgreement]  # metric -> rank correlation of variants with mean overall rating

    def to_dict(self) -> dict[str, Any]:
        return {"votes": {m: a.to_dict() for m, a in self.votes.items()}, "votes_considered": self.votes_considered,
                "ratings": {m: {k: e.to_dict() for k, e in c.items()} for m, c in self.ratings.items()},
                "rated_answers": self.rated_answers,
                "systems": {m: s.to_dict() for m, s in self.systems.items()}}


def _first_exchange(conversation: list[dict[str, str]]) -> tuple[str | None, str | None]:
    user = next((m["content"] for m in conversation if m["role"] == "user"), None)
    answer = next((m["content"] for m in conversation if m["role"] == "assistant"), None)
    return user, answer


def vote_agreement(metrics: Sequence[str], store: Store, *, margin: float = 0.0, rounds: int = 1000,
                   seed: int = 0) -> tuple[dict[str, PairwiseAgreement], int]:
    """Each metric as a judge of the unflagged arena votes on golden questions (first exchange only)."""
    from travelbot.analysis.judge_agreement import METRIC_SCORERS
    from travelbot.data.golden import golden_path, load_golden
    from travelbot.evaluation.metrics import MetricItem, score_answers
    from travelbot.feedback.votes import battle_rows

    golden = {q.question.strip(): q.reference_answer for q in load_golden(golden_path())[0]}
    battles = []
    for row in battle_rows(store, include_flagged=False):
        question, answer_a = _first_exchange(row["conversation_a"])
        _, answer_b = _first_exchange(row["conversation_b"])
        if question and question.strip() in golden and answer_a is not None and answer_b is not None:
            battles.append((WINNER_LABELS[row["winner"]], question, answer_a, answer_b, golden[question.strip()]))
    humans = [b[0] for b in battles]
    result = {}
    for metric in metrics:
        scores = score_answers([MetricItem(q, ans, ref) for _, q, a, b, ref in battles for ans in (a, b)],
                               [METRIC_SCORERS[metric]])
        values = [next(s.value for s in row if s.metric == metric) for row in scores]
        labels = [label_from_scores(values[2 * i], values[2 * i + 1], margin) for i in range(len(battles))]
        result[metric] = pairwise_agreement(humans, labels, rounds=rounds, seed=seed)
    return result, len(battles)


def _rated_eval_answers(store: Store) -> dict[int, float]:
    """Evaluation answer id -> mean of each rater's latest overall score."""
    from travelbot.feedback.ratings import rating_rows

    latest: dict[tuple[str, str], float] = {}
    for row in rating_rows(store):
        if row["item_id"].startswith("eval:") and "overall" in row["scores"]:
            latest[(row["item_id"], row["rater_id"])] = row["scores"]["overall"]
    by_answer: dict[int, list[float]] = defaultdict(list)
    for (item_id, _), value in latest.items():
        by_answer[int(item_id.split(":", 1)[1])].append(value)
    return {answer: sum(v) / len(v) for answer, v in by_answer.items()}


def store_agreement(metrics: Sequence[str] = ("bleu", "rougeL", "bertscore_f1"), store: Store | None = None, *,
                    margin: float = 0.0, rounds: int = 1000, seed: int = 0) -> StoreAgreement:
    """Votes vs metrics, ratings vs stored scores, and variants' orders — all from the store."""
    store = store or get_store()
    votes, considered = vote_agreement(metrics, store, margin=margin, rounds=rounds, seed=seed)
    rated = _rated_eval_answers(store)
    ratings: dict[str, dict[str, Estimate]] = {}
    systems: dict[str, SystemAgreement] = {}
    if rated:
        with store.transaction() as conn:
            scores = conn.execute(select(eval_scores.c.answer_id, eval_scores.c.metric, eval_scores.c.value)
                                  .where(eval_scores.c.answer_id.in_(list(rated))).order_by(eval_scores.c.id)).all()
            answers = {row.id: (row.variant, row.question_id) for row in conn.execute(
                select(eval_answers.c.id, eval_answers.c.variant, eval_answers.c.question_id)
                .where(eval_answers.c.id.in_(list(rated))))}
        by_metric: dict[str, dict[int, float | None]] = defaultdict(dict)
        for answer_id, metric, value in scores:  # the newest score of each metric counts
            by_metric[metric][answer_id] = value
        ids = sorted(rated)
        for metric, values in sorted(by_metric.items()):
            ratings[metric] = correlations([values.get(i) for i in ids], [rated[i] for i in ids],
                                           rounds=rounds, seed=seed)
            metric_by_item: dict[str, dict[str, float | None]] = defaultdict(dict)
            human_by_item: dict[str, dict[str, float | None]] = defaultdict(dict)
            for i in ids:
                variant, question = answers[i]
                metric_by_item[variant][question] = values.get(i)
                human_by_item[variant][question] = rated[i]
            systems[metric] = system_agreement(metric_by_item, human_by_item, rounds=rounds, seed=seed)
    return StoreAgreement(votes, considered, ratings, len(rated), systems)


def metric_correlations(store: Store | None = None) -> tuple[list[str], list[list[float | None]], int]:
    """(metrics, Spearman matrix, answers) over every evaluation answer that has a value for each pair of
    metrics (the newest score of each); a pair with fewer than 3 shared answers or a constant metric is None."""
    import math

    from scipy.stats import spearmanr

    store = store or get_store()
    with store.transaction() as conn:
        rows = conn.execute(select(eval_scores.c.answer_id, eval_scores.c.metric, eval_scores.c.value)
                            .order_by(eval_scores.c.id)).all()
    by_metric: dict[str, dict[int, float | None]] = defaultdict(dict)
    for answer_id, metric, value in rows:
        by_metric[metric][answer_id] = value
    metrics = sorted(by_metric)
    matrix: list[list[float | None]] = []
    for a in metrics:
        row = []
        for b in metrics:
            shared = [i for i, v in by_metric[a].items() if v is not None and by_metric[b].get(i) is not None]
            rho = spearmanr([by_metric[a][i] for i in shared], [by_metric[b][i] for i in shared]).statistic \
                if len(shared) >= 3 else float("nan")
            row.append(None if math.isnan(rho) else round(float(rho), 4))
        matrix.append(row)
    answers = len({i for values in by_metric.values() for i, v in values.items() if v is not None})
    return metrics, matrix, answers


def judge_biases(store: Store | None = None) -> dict[str, dict[str, Estimate]]:
    """Per judge model, from the stored pairwise verdicts: position consistency (the same verdict with the
    answers in both orders) and the share of decided pairs where it chose the longer answer."""
    from travelbot.analysis.agreement import length_preference, position_consistency
    from travelbot.schema import judge_verdicts

    store = store or get_store()
    with store.transaction() as conn:
        rows = conn.execute(select(judge_verdicts.c.judge_model, judge_verdicts.c.winner, judge_verdicts.c.detail,
                                   eval_answers.c.answer.label("answer_a"), judge_verdicts.c.answer_b)
                            .join(eval_answers, eval_answers.c.id == judge_verdicts.c.answer_a)).all()
        texts = dict(conn.execute(select(eval_answers.c.id, eval_answers.c.answer).where(
            eval_answers.c.id.in_([r.answer_b for r in rows]))).all()) if rows else {}
    by_judge: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_judge[row.judge_model].append(row)
    result = {}
    for judge, group in sorted(by_judge.items()):
        first = [(r.detail.get("verdicts") or [None, None])[0] for r in group]
        second = [(r.detail.get("verdicts") or [None, None])[1] for r in group]
        result[judge] = {
            "position_consistency": position_consistency(first, second),
            "longer_preferred": length_preference([r.winner for r in group],
                                                  [len(r.answer_a.split()) for r in group],
                                                  [len(texts.get(r.answer_b, "").split()) for r in group]),
        }
    return result


def rated_scores(metric: str, store: Store | None = None) -> list[tuple[float, float, str]]:
    """(metric value, mean overall rating, variant) for every rated evaluation answer with that metric."""
    store = store or get_store()
    rated = _rated_eval_answers(store)
    if not rated:
        return []
    with store.transaction() as conn:
        rows = conn.execute(select(eval_scores.c.answer_id, eval_scores.c.value, eval_answers.c.variant)
                            .join(eval_answers, eval_answers.c.id == eval_scores.c.answer_id)
                            .where(eval_scores.c.metric == metric, eval_scores.c.answer_id.in_(list(rated)))
                            .order_by(eval_scores.c.id)).all()
    newest = {answer_id: (value, variant) for answer_id, value, variant in rows}
    return [(value, rated[a], variant) for a, (value, variant) in newest.items() if value is not None]


def variant_rankings(metrics: list[str], store: Store | None = None, *, rounds: int = 1000,
                     seed: int = 0) -> tuple[list[str], list[list[Any]]]:
    """Variants ranked by people (Bradley–Terry rating, mean overall rating) beside their mean score on
    each metric over all their stored evaluation answers (headers, rows best first by people)."""
    from travelbot.feedback.standings import standings

    store = store or get_store()
    result = standings(store, rounds=rounds, seed=seed)
    human = {r.variant: r for r in result.board.ratings}
    rating = {s.variant: s.mean for s in result.ratings.scores if s.criterion == "overall"}
    with store.transaction() as conn:
        rows = conn.execute(select(eval_answers.c.variant, eval_scores.c.metric, eval_scores.c.value)
                            .join(eval_answers, eval_answers.c.id == eval_scores.c.answer_id)
                            .where(eval_scores.c.metric.in_(metrics), eval_scores.c.value.is_not(None))).all()
    sums: dict[tuple[str, str], list[float]] = defaultdict(list)
    for variant, metric, value in rows:
        sums[(variant, metric)].append(value)
    variants = sorted({*human, *rating, *(v for v, _ in sums)},
                      key=lambda v: (-(human[v].rating if v in human else float("-inf")), v))
    headers = ["variant", "human rank", "Bradley–Terry rating", "mean overall rating", *metrics]
    table = []
    for v in variants:
        means = [round(sum(sums[(v, m)]) / len(sums[(v, m)]), 4) if sums.get((v, m)) else None for m in metrics]
        table.append([v, human[v].rank if v in human else None, round(human[v].rating) if v in human else None,
                      round(rating[v], 2) if v in rating and rating[v] == rating[v] else None, *means])
    return headers, table
