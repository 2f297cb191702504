"""Tests for travelbot/analysis/separability.py: hand-built rankings with known answers, and simulated arena
battles from known strengths, judged by judges that follow the truth, reverse it or toss a coin."""

from __future__ import annotations

import math

import numpy as np

from travelbot.analysis.separability import (
    board_intervals,
    mean_intervals,
    order_with_confidence,
    ranking_agreement,
)
from travelbot.feedback.leaderboard import leaderboard
from travelbot.feedback.simulation import Truth, simulate

# Five variants 100 rating points apart or more, and two (raft, dpo) that are truly equal.
TRUTH = Truth({"smollm2-135m": 850, "smollm2-qlora": 1000, "smollm2-raft": 1100, "smollm2-dpo": 1100,
               "smollm2-rlhf": 1250})


def ranked(*scores: float, spread: float = 1.0) -> dict[str, tuple[float, float, float]]:
    """Variants v0, v1, … with these scores and intervals ``score ± spread``."""
    return {f"v{i}": (s, s - spread, s + spread) for i, s in enumerate(scores)}


# ---------------------------------------------------------------------------------------- known answers


def test_all_separated_in_people_s_order_agrees_fully() -> None:
    people, judge = ranked(10, 20, 30, 40), ranked(1, 2, 3, 4, spread=0.1)
    result = ranking_agreement("judge", judge, people)
    assert result.pairs == 6 and result.separability == 1.0 and result.people_separability == 1.0
    assert result.agreement == 1.0 and (result.agree, result.undecided, result.disagree) == (6, 0, 0)
    data = result.to_dict()
    assert data["agreement_with_confidence"] == {"value": 1.0, "agree": 6, "undecided": 0, "disagree": 0, "n": 6}
    assert data["separability"] == {"value": 1.0, "separated": 6, "n": 6}
    assert data["sentences"][0].startswith("Separability 100%: judge's 95% intervals tell apart 6 of the 6 pairs")


def test_the_reversed_order_disagrees_fully() -> None:
    result = ranking_agreement("judge", ranked(40, 30, 20, 10), ranked(10, 20, 30, 40))
    assert result.separability == 1.0 and result.agreement == -1.0 and result.disagree == 6
    assert "orders 0 the same way, 6 the opposite way" in result.sentences()[1]


def test_overlapping_intervals_separate_nothing_and_say_nothing() -> None:
    result = ranking_agreement("metric", ranked(1.0, 1.5, 2.0, spread=1.0), ranked(10, 20, 30))
    assert result.separated == 0 and result.separability == 0.0
    assert result.agreement == 0.0 and result.undecided == 3


def test_touching_ends_overlap_and_a_missing_interval_separates_nothing() -> None:
    assert order_with_confidence((2.0, 1.0, 3.0), (0.0, -1.0, 1.0)) == 0  # they share the point 1.0
    assert order_with_confidence((2.0, 1.01, 3.0), (0.0, -1.0, 1.0)) == 1
    assert order_with_confidence((0.0, -1.0, 1.0), (2.0, 1.01, 3.0)) == -1
    assert order_with_confidence((2.0, math.nan, math.nan), (0.0, -1.0, 1.0)) == 0


def test_only_shared_variants_count_and_unconfirmed_pairs_are_not_scored() -> None:
    people = {"a": (30, 25, 35), "b": (20, 15, 25.5), "c": (10, 5, 14.5), "only-people": (0, -1, 1)}
    judge = {"a": (3, 2.9, 3.1), "b": (2, 1.9, 2.1), "c": (1, 0.9, 1.1), "only-judge": (9, 8, 10)}
    result = ranking_agreement("judge", judge, people, kind="LLM judge")
    assert result.variants == ("a", "b", "c") and result.pairs == 3
    # people cannot tell a from b (25 < 25.5): the judge's confident a > b is unconfirmed, not scored
    assert (result.separated, result.people_separated, result.unconfirmed) == (3, 2, 1)
    assert result.agreement == 1.0 and result.to_dict()["kind"] == "LLM judge"


def test_nothing_to_agree_with_is_undefined_not_zero() -> None:
    result = ranking_agreement("judge", ranked(1, 5), ranked(1, 1.5, spread=1))
    assert result.separability == 1.0 and math.isnan(result.agreement)
    assert result.to_dict()["agreement_with_confidence"]["value"] is None
    assert "undefined" in result.sentences()[1]
    lonely = ranking_agreement("judge", ranked(1), ranked(1, 2))
    assert lonely.pairs == 0 and math.isnan(lonely.separability) and "fewer than two" in lonely.sentences()[0]


# ---------------------------------------------------------------------------------------- known truth


def judged(battles: list[dict], lean: int, rng: np.random.Generator) -> list[dict]:
    """The same battles decided by a judge that follows the truth (lean 1), reverses it (-1) or tosses a coin (0)."""
    out = []
    for row in battles:
        p = TRUTH.win_probability(row["model_a"], row["model_b"], 1, 1)
        p = p if lean > 0 else 1.0 - p if lean < 0 else 0.5
        out.append({**row, "winner": "model_a" if rng.random() < p else "model_b"})
    return out


def board(battles: list[dict], seed: int = 0) -> dict[str, tuple[float, float, float]]:
    return board_intervals(leaderboard(battles, rounds=200, seed=seed).ratings)


def test_judges_that_follow_reverse_or_ignore_the_truth() -> None:
    rng = np.random.default_rng(0)
    battles = simulate(TRUTH, 4000, rng)
    people = board(battles)
    follows, reverses, coin = (ranking_agreement(name, board(judged(battles, lean, rng), 1), people)
                               for name, lean in (("follows", 1), ("reverses", -1), ("coin", 0)))
    assert follows.people_separated == 9  # every pair but the two truly equal variants
    assert follows.agreement >= 0.9 and follows.disagree == 0 and follows.separability >= 0.8
    assert reverses.agreement <= -0.9 and reverses.agree == 0
    assert coin.separated <= 1 and abs(coin.agreement) <= 0.15


def test_separated_pairs_are_almost_never_in_the_wrong_order() -> None:
    """Over repeated small arenas, a truth-following judge's board: the truly equal pair is told apart in at most
    5% of arenas, and a separated pair of unequal variants is in the wrong order at most 2.5% of the time (one
    tail of a 95% interval); its agreement with people grows with the battles."""
    rng = np.random.default_rng(1)
    true = {v: (r, r, r) for v, r in TRUTH.ratings.items()}
    equal_told_apart = wrong = separated = 0
    agreement = {300: [], 1500: []}
    for arena in range(60):
        for n, values in agreement.items():
            battles = simulate(TRUTH, n, rng)
            judge = board(judged(battles, 1, rng), seed=arena)
            values.append(ranking_agreement("follows", judge, board(battles, seed=arena)).agreement)
            if n == 300:
                truth_check = ranking_agreement("follows", judge, true)
                equal_told_apart += order_with_confidence(judge["smollm2-raft"], judge["smollm2-dpo"]) != 0
                separated += truth_check.separated - truth_check.unconfirmed
                wrong += truth_check.disagree
    assert equal_told_apart / 60 <= 0.05
    assert separated > 60 and wrong / separated <= 0.025
    means = {n: np.nanmean(values) for n, values in agreement.items()}
    assert 0.5 < means[300] < means[1500] and means[1500] > 0.9


def test_metric_means_rank_variants_and_their_intervals_cover() -> None:
    """A metric's per-variant means: intervals over a full golden run (68 answers) cover the true mean 93–97%
    of the time, and a metric that follows the truth agrees with people's board."""
    rng = np.random.default_rng(2)
    hits, sims = 0, 2000
    for seed in range(sims):
        scores = rng.beta(2.0, 5.0, size=68)  # a bounded, skewed score such as BLEU or ROUGE
        _, lower, upper = mean_intervals({"v": scores}, rounds=200, seed=seed)["v"]
        hits += lower <= 2.0 / 7.0 <= upper
    assert 0.93 <= hits / sims <= 0.97

    people = board(simulate(TRUTH, 4000, rng))
    means = {v: 0.1 + 0.0012 * (r - 850) for v, r in TRUTH.ratings.items()}  # 0.10 … 0.58
    values = {v: np.clip(rng.normal(m, 0.1, size=68), 0, 1) for v, m in means.items()}
    metric = ranking_agreement("rougeL", mean_intervals(values, rounds=200), people, kind="metric")
    assert metric.disagree == 0 and metric.agreement >= 0.7 and metric.separability >= 0.7
    assert order_with_confidence(*(mean_intervals(values, rounds=200)[v] for v in ("smollm2-raft", "smollm2-dpo"))) == 0
