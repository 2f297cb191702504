"""Agreement between the store's own human data (arena votes, 1–5 ratings) and its automatic scores.

- **Votes vs metrics** (pairwise): an arena battle whose question is a golden question is judged by a
  metric, which scores both first answers against the golden answer and prefers the higher score.
- **Ratings vs scores** (per answer): evaluation answers rated in the Rate tab (mean of each rater's
  latest overall score) against every stored metric score of the same answer.
- **Variants** (per system): the variants' order by mean metric score against their order by mean
  human rating, over the same golden questions.
- **Criteria**: people's ratings on each criterion (relevance, helpfulness, …) against the LLM judge's
  verdict on the same criterion of the same answer.
- **Rankings** (per pair of variants, with confidence): each LLM judge's Bradley–Terry board from its verdicts
  on the arena battles, and each stored metric's per-variant mean, against people's board from the votes on
  those battles: Arena-Hard's separability and agreement with confidence (``analysis.separability``).

Every figure can be narrowed with a :class:`Scope`: one golden split, some variants, and the rating
criterion that stands for "the humans".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from travelbot.analysis import repository
from travelbot.analysis.agreement import (
    Estimate,
    PairwiseAgreement,
    SystemAgreement,
    correlations,
    label_from_scores,
    pairwise_agreement,
    system_agreement,
)
from travelbot.analysis.separability import RankingAgreement, mean_intervals, ranking_agreement, verdict_board
from travelbot.store import Store, get_store

WINNER_LABELS = {"model_a": "A", "model_b": "B", "tie": "tie", "tie (bothbad)": "tie"}


@dataclass(frozen=True)
class Scope:
    """Which of the store's data a figure uses: a golden split (``None``: all), some variants (empty: all)
    and the human rating criterion compared with the metrics (``overall`` by default)."""

    split: str | None = None
    variants: tuple[str, ...] = ()
    criterion: str = "overall"

    def __post_init__(self) -> None:
        from travelbot.data.golden import SPLITS
        from travelbot.errors import InvalidInputError
        from travelbot.feedback.ratings import RATED

        if self.split is not None and self.split not in SPLITS:
            raise InvalidInputError(f"Unknown split {self.split!r}; use {', '.join(SPLITS)} or leave it empty for all.")
        if self.criterion not in RATED:
            raise InvalidInputError(f"Unknown criterion {self.criterion!r}; use one of {', '.join(RATED)}.")

    @property
    def narrows(self) -> bool:
        """Whether this scope leaves some evaluation answers out."""
        return bool(self.variants) or self.split is not None

    def keeps_variant(self, variant: str) -> bool:
        return not self.variants or variant in self.variants

    def golden(self) -> dict[str, tuple[str, str]]:
        """Golden question text -> (question id, golden answer), for this split."""
        from travelbot.data.golden import golden_path, load_golden

        return {q.question.strip(): (q.id, q.reference_answer)
                for q in load_golden(golden_path(), split=self.split)[0]}

    def answers(self, store: Store) -> dict[int, tuple[str, str]]:
        """Evaluation answer id -> (variant, question id) for the answers in scope."""
        return repository.answer_keys(
            store, variants=self.variants or None,
            question_ids=[q for q, _ in self.golden().values()] if self.split is not None else None)

    def to_dict(self) -> dict[str, Any]:
        return {"split": self.split, "variants": list(self.variants), "criterion": self.criterion}


ALL = Scope()


@dataclass
class StoreAgreement:
    votes: dict[str, PairwiseAgreement]  # metric -> agreement with single-question battles on golden questions
    votes_considered: int
    ratings: dict[str, dict[str, Estimate]]  # metric -> spearman / kendall / pearson with the mean rating
    rated_answers: int
    systems: dict[str, SystemAgreement]  # metric -> rank correlation of variants with the mean rating
    criteria: dict[str, dict[str, Any]]  # rating criterion -> the judge's matching metric and correlations
    scope: Scope = ALL
    judges: dict[str, PairwiseAgreement] = field(default_factory=dict)  # judge model -> agreement with the votes
    rankings: dict[str, RankingAgreement] = field(default_factory=dict)  # judge or metric -> its board vs people's

    def to_dict(self) -> dict[str, Any]:
        return {"scope": self.scope.to_dict(),
                "votes": {m: a.to_dict() for m, a in self.votes.items()}, "votes_considered": self.votes_considered,
                "judges": {m: a.to_dict() for m, a in self.judges.items()},
                "rankings": {m: r.to_dict() for m, r in self.rankings.items()},
                "ratings": {m: {k: e.to_dict() for k, e in c.items()} for m, c in self.ratings.items()},
                "rated_answers": self.rated_answers,
                "systems": {m: s.to_dict() for m, s in self.systems.items()},
                "criteria": {c: {"judge_metric": f["judge_metric"],
                                 **{k: e.to_dict() for k, e in f["correlations"].items()}}
                             for c, f in self.criteria.items()}}


def _first_exchange(conversation: list[dict[str, str]]) -> tuple[str | None, str | None]:
    user = next((m["content"] for m in conversation if m["role"] == "user"), None)
    answer = next((m["content"] for m in conversation if m["role"] == "assistant"), None)
    return user, answer


def vote_agreement(metrics: Sequence[str], store: Store, *, scope: Scope = ALL, margin: float = 0.0,
                   rounds: int = 1000, seed: int = 0) -> tuple[dict[str, PairwiseAgreement], int]:
    """Each metric as a judge of the unflagged arena votes on golden questions (first exchange only), and the
    length baseline (``LENGTH_BASELINE``); in a scope with variants, only battles between two of them."""
    from travelbot.analysis.judge_agreement import LENGTH_BASELINE, longer_label
    from travelbot.evaluation.metrics import MetricItem, score_answers
    from travelbot.evaluation.scorers import METRIC_SCORERS
    from travelbot.feedback.voter_quality import store_battles

    golden = scope.golden()
    battles = []
    for row in store_battles(store)[0]:
        if not (scope.keeps_variant(row["model_a"]) and scope.keeps_variant(row["model_b"])):
            continue
        question, answer_a = _first_exchange(row["conversation_a"])
        _, answer_b = _first_exchange(row["conversation_b"])
        if question and question.strip() in golden and answer_a is not None and answer_b is not None:
            battles.append((WINNER_LABELS[row["winner"]], question, answer_a, answer_b, golden[question.strip()][1]))
    humans = [b[0] for b in battles]
    result = {}
    for metric in metrics:
        scores = score_answers([MetricItem(q, ans, ref) for _, q, a, b, ref in battles for ans in (a, b)],
                               [METRIC_SCORERS[metric]])
        values = [next(s.value for s in row if s.metric == metric) for row in scores]
        labels = [label_from_scores(values[2 * i], values[2 * i + 1], margin) for i in range(len(battles))]
        result[metric] = pairwise_agreement(humans, labels, rounds=rounds, seed=seed)
    if battles:  # the heuristic every metric should beat: the longer answer wins (characters)
        longer = [longer_label(len(a), len(b)) for _, _, a, b, _ in battles]
        result[LENGTH_BASELINE] = pairwise_agreement(humans, longer, rounds=rounds, seed=seed)
    return result, len(battles)


def battles_in_scope(store: Store, scope: Scope = ALL) -> list[dict[str, Any]]:
    """The unflagged arena battles (FastChat rows) in scope: between two of the scope's variants and, with a
    split, on that split's golden questions."""
    from travelbot.feedback.voter_quality import store_battles

    golden = scope.golden() if scope.split is not None else None
    kept = []
    for row in store_battles(store)[0]:
        if not (scope.keeps_variant(row["model_a"]) and scope.keeps_variant(row["model_b"])):
            continue
        question, _ = _first_exchange(row["conversation_a"])
        if golden is None or (question or "").strip() in golden:
            kept.append(row)
    return kept


def judge_vote_agreement(store: Store, *, scope: Scope = ALL, rounds: int = 1000,
                         seed: int = 0) -> dict[str, PairwiseAgreement]:
    """Each LLM judge's verdicts on arena battles (any question, both orders) against the votes on
    them: judge model -> agreement over the unflagged battles it decided (in scope: between two of
    the scope's variants; with a split, only battles on that split's golden questions)."""
    from travelbot.feedback.battle_judge import judge_labels

    humans = {row["question_id"]: WINNER_LABELS[row["winner"]] for row in battles_in_scope(store, scope)}
    result = {}
    for model, labels in sorted(judge_labels(store).items()):
        shared = sorted(set(labels) & set(humans))
        result[model] = pairwise_agreement([humans[b] for b in shared], [labels[b] for b in shared],
                                           rounds=rounds, seed=seed)
    return result


def rated_eval_answers(store: Store, scope: Scope = ALL, criterion: str | None = None) -> dict[int, float]:
    """Evaluation answer id -> mean of each rater's latest score on the criterion (the scope's by default),
    for the answers in scope. A rater's latest rating of an answer counts, even when it left the criterion
    blank (then that rater does not count for it)."""
    from travelbot.feedback.ratings import rating_rows

    criterion = criterion or scope.criterion
    latest: dict[tuple[str, str], float | None] = {}
    for row in rating_rows(store):
        if row["item_id"].startswith("eval:"):
            latest[(row["item_id"], row["rater_id"])] = row["scores"].get(criterion)
    by_answer: dict[int, list[float]] = defaultdict(list)
    for (item_id, _), value in latest.items():
        if value is not None:
            by_answer[int(item_id.split(":", 1)[1])].append(value)
    if scope.narrows:
        kept = scope.answers(store)
        by_answer = {a: v for a, v in by_answer.items() if a in kept}
    return {answer: sum(v) / len(v) for answer, v in by_answer.items()}


def criterion_agreement(store: Store, scope: Scope = ALL, *, rounds: int = 1000,
                        seed: int = 0) -> dict[str, dict[str, Any]]:
    """For each rating criterion people used: their mean rating of each evaluation answer against the LLM
    judge's verdict on the same criterion (``judge_<criterion>``; 0/1 for the yes/no criteria, 1–10 overall)."""
    from travelbot.feedback.ratings import RATED

    result: dict[str, dict[str, Any]] = {}
    for criterion in RATED:
        rated = rated_eval_answers(store, scope, criterion)
        metric = f"judge_{criterion}"
        if not rated:
            continue
        values = _newest_scores(store, metric, list(rated))
        if not values:
            continue
        ids = sorted(rated)
        result[criterion] = {"judge_metric": metric, "rated_answers": len(rated),
                             "correlations": correlations([values.get(i) for i in ids], [rated[i] for i in ids],
                                                          rounds=rounds, seed=seed)}
    return result


def _newest_scores(store: Store, metric: str | None, answer_ids: list[int] | None) -> dict[Any, Any]:
    """The newest stored value of one metric per answer ({answer: value}), or of every metric
    ({metric: {answer: value}}) when ``metric`` is None; over the given answers (``None``: all)."""
    rows = repository.metric_scores(store, metric, answer_ids)
    by_metric: dict[str, dict[int, float | None]] = defaultdict(dict)
    for answer_id, name, value in rows:
        by_metric[name][answer_id] = value
    return by_metric.get(metric, {}) if metric is not None else by_metric


def store_agreement(metrics: Sequence[str] = ("bleu", "rougeL", "bertscore_f1"), store: Store | None = None, *,
                    scope: Scope = ALL, margin: float = 0.0, rounds: int = 1000, seed: int = 0) -> StoreAgreement:
    """Votes vs metrics, ratings vs stored scores, variants' orders and criteria — all from the store."""
    store = store or get_store()
    votes, considered = vote_agreement(metrics, store, scope=scope, margin=margin, rounds=rounds, seed=seed)
    rated = rated_eval_answers(store, scope)
    ratings: dict[str, dict[str, Estimate]] = {}
    systems: dict[str, SystemAgreement] = {}
    if rated:
        by_metric = _newest_scores(store, None, list(rated))
        answers = repository.answer_keys(store, ids=list(rated))
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
    criteria = criterion_agreement(store, scope, rounds=rounds, seed=seed)
    judges = judge_vote_agreement(store, scope=scope, rounds=rounds, seed=seed)
    rankings = ranking_agreements(store, scope, rounds=rounds, seed=seed)
    return StoreAgreement(votes, considered, ratings, len(rated), systems, criteria, scope, judges, rankings)


def ranking_agreements(store: Store | None = None, scope: Scope = ALL, *, rounds: int = 1000,
                       seed: int = 0) -> dict[str, RankingAgreement]:
    """Each automatic ranking of the variants against people's Bradley–Terry board from the votes in scope,
    with Arena-Hard's separability and agreement with confidence: each LLM judge's board (the same fit on its
    verdicts of those battles) and each stored metric's per-variant mean over the evaluation answers in scope
    (higher is better). A ranking sharing fewer than two variants with people's board is left out."""
    from travelbot.feedback.battle_judge import judge_labels

    store = store or get_store()
    battles = battles_in_scope(store, scope)
    people = verdict_board([(row["model_a"], row["model_b"], WINNER_LABELS[row["winner"]]) for row in battles],
                           rounds=rounds, seed=seed)
    if not people:
        return {}
    automatic: dict[str, tuple[str, dict]] = {}
    for model, labels in sorted(judge_labels(store).items()):
        judged = verdict_board([(row["model_a"], row["model_b"], labels.get(row["question_id"])) for row in battles],
                               rounds=rounds, seed=seed)
        if judged:
            automatic[model] = ("LLM judge", judged)
    answers = scope.answers(store)
    for metric, values in sorted(_newest_scores(store, None, list(answers) if scope.narrows else None).items()):
        by_variant: dict[str, list[float]] = defaultdict(list)
        for answer_id, value in values.items():
            if value is not None and answer_id in answers:
                by_variant[answers[answer_id][0]].append(value)
        automatic.setdefault(metric, ("metric", mean_intervals(by_variant, rounds=rounds, seed=seed)))
    found = {name: ranking_agreement(name, intervals, people, kind=kind)
             for name, (kind, intervals) in automatic.items()}
    return {name: r for name, r in found.items() if r.pairs}


def metric_correlations(store: Store | None = None, scope: Scope = ALL
                        ) -> tuple[list[str], list[list[float | None]], int]:
    """(metrics, Spearman matrix, answers) over every evaluation answer in scope that has a value for each
    pair of metrics (the newest score of each); a pair with fewer than 3 shared answers or a constant metric
    is None."""
    import math

    from scipy.stats import spearmanr

    store = store or get_store()
    by_metric = _newest_scores(store, None, list(scope.answers(store)) if scope.narrows else None)
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


def judge_biases(store: Store | None = None, scope: Scope = ALL) -> dict[str, dict[str, Estimate]]:
    """Per judge model, from the stored pairwise verdicts on answers in scope: position consistency (the
    same verdict with the answers in both orders) and the share of decided pairs where it chose the longer
    answer."""
    from travelbot.analysis.agreement import length_preference, position_consistency

    store = store or get_store()
    kept = scope.answers(store) if scope.narrows else None
    by_judge: dict[str, list[repository.PairVerdict]] = defaultdict(list)
    for row in repository.pair_verdicts(store, kept):
        by_judge[row.judge_model].append(row)
    result = {}
    for judge, group in sorted(by_judge.items()):
        first = [(r.detail.get("verdicts") or [None, None])[0] for r in group]
        second = [(r.detail.get("verdicts") or [None, None])[1] for r in group]
        result[judge] = {
            "position_consistency": position_consistency(first, second),
            "longer_preferred": length_preference([r.winner for r in group],
                                                  [len(r.answer_a.split()) for r in group],
                                                  [len(r.answer_b.split()) for r in group]),
        }
    return result


def rated_scores(metric: str, store: Store | None = None, scope: Scope = ALL) -> list[tuple[float, float, str]]:
    """(metric value, mean rating on the scope's criterion, variant) for every rated evaluation answer in
    scope with that metric."""
    store = store or get_store()
    rated = rated_eval_answers(store, scope)
    if not rated:
        return []
    rows = repository.metric_scores_with_variant(store, metric, list(rated))
    newest = {answer_id: (value, variant) for answer_id, value, variant in rows}
    return [(value, rated[a], variant) for a, (value, variant) in newest.items() if value is not None]


def variant_rankings(metrics: list[str], store: Store | None = None, *, scope: Scope = ALL, rounds: int = 1000,
                     seed: int = 0) -> tuple[list[str], list[list[Any]]]:
    """Variants ranked by people (Bradley–Terry rating over all votes, mean rating on the scope's criterion)
    beside their mean score on each metric over their evaluation answers in scope (headers, rows best first
    by people)."""
    from travelbot.feedback.standings import standings

    store = store or get_store()
    result = standings(store, rounds=rounds, seed=seed)
    human = {r.variant: r for r in result.board.ratings if scope.keeps_variant(r.variant)}
    rating = {s.variant: s.mean for s in result.ratings.scores
              if s.criterion == scope.criterion and scope.keeps_variant(s.variant)}
    rows = repository.variant_metric_values(store, metrics, list(scope.answers(store)) if scope.narrows else None)
    sums: dict[tuple[str, str], list[float]] = defaultdict(list)
    for variant, metric, value in rows:
        sums[(variant, metric)].append(value)
    variants = sorted({*human, *rating, *(v for v, _ in sums)},
                      key=lambda v: (-(human[v].rating if v in human else float("-inf")), v))
    headers = ["variant", "human rank", "Bradley–Terry rating", f"mean {scope.criterion} rating", *metrics]
    table = []
    for v in variants:
        means = [round(sum(sums[(v, m)]) / len(sums[(v, m)]), 4) if sums.get((v, m)) else None for m in metrics]
        table.append([v, human[v].rank if v in human else None, round(human[v].rating) if v in human else None,
                      round(rating[v], 2) if v in rating and rating[v] == rating[v] else None, *means])
    return headers, table
