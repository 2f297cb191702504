"""Bradley–Terry ratings, bootstrap intervals and rating summaries, on hand-made and simulated votes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from scipy.optimize import minimize
from scipy.special import expit

from travelbot.stats import wilson_interval
from travelbot.feedback.leaderboard import (
    DETECTABLE,
    MIN_BATTLES,
    WINNERS,
    bradley_terry,
    leaderboard,
    prior_precision,
    rating_summary,
)


def battle(a: str, b: str, winner: str = "model_a") -> dict:
    return {"model_a": a, "model_b": b, "winner": winner}


A_BEATS_B_3_1 = [battle("A", "B"), battle("A", "B"), battle("B", "A", "model_b"), battle("B", "A")]

# ---------------------------------------------------------------------------------------- hand-made cases


def test_three_to_one_gives_log_three_odds_without_the_prior():
    ratings = bradley_terry(A_BEATS_B_3_1, prior=False)
    assert ratings["A"] > ratings["B"]
    assert (ratings["A"] + ratings["B"]) / 2 == pytest.approx(1000.0)
    # Difference in natural log-odds is log(3), up to the tiny ridge floor.
    assert (ratings["A"] - ratings["B"]) * math.log(10) / 400 == pytest.approx(math.log(3), rel=1e-3)
    assert ratings["A"] - ratings["B"] == pytest.approx(400 * math.log10(3), abs=0.1)
    natural = bradley_terry(A_BEATS_B_3_1, scale=1.0, base=math.e, center=0.0, prior=False)
    assert natural["A"] - natural["B"] == pytest.approx(math.log(3), rel=1e-3)
    with_prior = bradley_terry(A_BEATS_B_3_1)  # four votes: pulled toward the mean, same order
    assert 0 < with_prior["A"] - with_prior["B"] < ratings["A"] - ratings["B"]


@pytest.mark.parametrize("wins, n", [(1, 1), (2, 2), (4, 4), (5, 5), (3, 4), (30, 40)])
def test_the_prior_has_the_documented_form(wins, n):
    """Two variants with n battles each: the fit solves n * p - wins + precision(n) * theta_A = 0 exactly,
    with theta_A = -theta_B and precision(n) = 1e-4 + 2 * (20 / (20 + n)) ** 2."""
    ratings = bradley_terry([battle("A", "B")] * wins + [battle("A", "B", "model_b")] * (n - wins),
                            scale=1.0, base=math.e, center=0.0)
    theta = ratings["A"]
    assert ratings["B"] == pytest.approx(-theta)
    precision = 1e-4 + 2.0 * (20.0 / (20.0 + n)) ** 2
    assert prior_precision(n) == pytest.approx(precision)
    assert n * expit(2 * theta) - wins + precision * theta == pytest.approx(0.0, abs=1e-9)


def test_ties_count_half_a_win_each():
    two_wins_two_ties = [battle("A", "B"), battle("B", "A", "model_b"), battle("A", "B", "tie"),
                         battle("B", "A", "tie (bothbad)")]
    assert bradley_terry(two_wins_two_ties) == pytest.approx(bradley_terry(A_BEATS_B_3_1))
    assert bradley_terry([battle("A", "B", "tie")] * 5) == pytest.approx({"A": 1000.0, "B": 1000.0})


def test_unbeaten_variant_gets_a_finite_rating_and_absent_variants_are_absent():
    rows = [battle("A", "B")] * 20 + [battle("B", "C"), battle("C", "B")]
    plain = bradley_terry(rows, prior=False)
    assert set(plain) == {"A", "B", "C"}
    assert all(math.isfinite(r) for r in plain.values())
    assert plain["A"] > plain["B"] == pytest.approx(plain["C"], abs=1.0)
    # With the prior, C (two battles, one win) sits between B and the mean: little is known about it.
    ratings = bradley_terry(rows)
    assert all(math.isfinite(r) for r in ratings.values())
    assert ratings["A"] > 1000.0 > ratings["C"] > ratings["B"]
    assert bradley_terry([]) == {}


def test_skipped_rows_are_counted_by_reason():
    rows = A_BEATS_B_3_1 + [
        battle("A", "B", "both good"),  # unknown winner
        battle("A", "A"),  # same variant on both sides
        {"model_a": "A", "winner": "model_a"},  # missing variant
        battle("", "B"),  # missing variant
        "not a row",
    ]
    board = leaderboard(rows, rounds=200)
    assert board.skipped == {"unknown_winner": 1, "same_variant": 1, "missing_variant": 2, "not_a_battle_row": 1}
    assert board.n_battles == 4
    assert bradley_terry(rows) == pytest.approx(bradley_terry(A_BEATS_B_3_1))


def test_leaderboard_records_and_matrices():
    rows = (A_BEATS_B_3_1 + [battle("C", "A", "tie")] * 2 + [battle("B", "C")] * 3 + [battle("C", "B")]
            + [battle("C", "B", "tie (bothbad)")])
    board = leaderboard(rows, rounds=300, seed=1)
    assert [r.variant for r in board.ratings] == board.variants
    assert [r.rating for r in board.ratings] == sorted((r.rating for r in board.ratings), reverse=True)
    assert np.mean([r.rating for r in board.ratings]) == pytest.approx(1000.0)
    by_name = {r.variant: r for r in board.ratings}
    assert (by_name["A"].battles, by_name["A"].wins, by_name["A"].losses, by_name["A"].ties) == (6, 3, 1, 2)
    assert (by_name["C"].battles, by_name["C"].wins, by_name["C"].losses, by_name["C"].ties) == (7, 1, 3, 3)
    for r in board.ratings:
        assert r.lower <= r.rating <= r.upper and r.rank >= 1

    assert [(p.variant_a, p.variant_b) for p in board.pairs] == [("A", "B"), ("A", "C"), ("B", "C")]
    bc = board.pairs[2]
    assert (bc.battles, bc.wins_a, bc.wins_b, bc.ties) == (5, 3, 1, 1)
    assert bc.win_rate_a == pytest.approx(3.5 / 5)
    assert (bc.lower, bc.upper) == pytest.approx(wilson_interval(3.5, 5))

    i = {name: n for n, name in enumerate(board.variants)}
    assert board.win_fraction[i["A"]][i["B"]] == pytest.approx(0.75)
    assert board.win_fraction[i["B"]][i["A"]] == pytest.approx(0.25)
    assert board.win_fraction[i["A"]][i["C"]] is None  # only ties between them
    assert all(board.win_fraction[n][n] is None for n in range(3))
    assert board.battle_counts[i["A"]][i["C"]] == board.battle_counts[i["C"]][i["A"]] == 2
    assert board.battle_counts[i["B"]][i["C"]] == 5 and board.battle_counts[i["B"]][i["B"]] == 0


def test_few_votes_give_finite_sensible_ratings_marked_provisional():
    gaps = []
    for n in range(1, 6):  # the case: a handful of votes, all for A
        board = leaderboard([battle("A", "B")] * n, rounds=200)
        a, b = board.ratings
        assert (a.variant, b.variant) == ("A", "B") and a.rank == b.rank == 1
        assert all(math.isfinite(x) for r in board.ratings for x in (r.rating, r.lower, r.upper))
        assert a.upper - a.lower > 200 and b.upper - b.lower > 200  # wide: a few votes say little
        assert a.provisional and b.provisional and board.min_battles == MIN_BATTLES == 20
        assert a.label().startswith("≈") and f"provisional, {n} battle" in a.label()
        assert f"[{a.lower:.0f}, {a.upper:.0f}]" in a.label()
        separation = board.votes_to_separate_top_two
        assert not separation.separated and separation.votes > 0 and "more votes" in separation.explanation
        gaps.append(a.rating - b.rating)
    assert 50 < gaps[1] < 160  # two wins out of two: not 1735 against 265
    assert gaps == sorted(gaps) and gaps[-1] < 300
    data = json.loads(json.dumps(board.to_dict(), allow_nan=False))
    assert [r["provisional"] for r in data["ratings"]] == [True, True]
    assert data["votes_to_separate_top_two"]["votes"] == separation.votes


def test_provisional_follows_the_minimum_and_separated_top_two_need_no_votes():
    rows = [battle("A", "B")] * 20 + [battle("B", "C")] * 3
    board = leaderboard(rows, rounds=200, min_battles=21)
    assert {r.variant: r.provisional for r in board.ratings} == {"A": True, "B": False, "C": True}
    assert board.ratings[1].label() == f"{board.ratings[1].rating:.0f} [{board.ratings[1].lower:.0f}, " \
                                       f"{board.ratings[1].upper:.0f}]"
    assert not any(r.provisional for r in leaderboard(rows, rounds=200, min_battles=0).ratings)
    separation = board.votes_to_separate_top_two
    assert (separation.leader, separation.separated, separation.votes) == ("A", True, 0)
    assert separation.lower > 0 and "told apart" in separation.explanation
    assert leaderboard([battle("A", "A")], rounds=200).votes_to_separate_top_two is None
    with pytest.raises(ValueError, match="minimum number of battles"):
        leaderboard(rows, rounds=200, min_battles=-1)


def test_top_two_that_look_equal_are_sized_for_a_fifty_point_difference():
    rows = [battle("A", "B")] * 100 + [battle("B", "A")] * 100 + [battle("A", "B", "tie")] * 20
    separation = leaderboard(rows, rounds=300).votes_to_separate_top_two
    assert not separation.separated and abs(separation.difference) < 1.0
    assert separation.assumed_difference == DETECTABLE == 50.0
    assert "look equal" in separation.explanation and f"{separation.votes:,} more votes" in separation.explanation
    # 220 votes already between them: about 380 for a 50-point difference at 80%, less what is already there
    assert 100 < separation.votes < 300


def test_ci_aware_ranks():
    rows = [battle("A", "B")] * 150 + [battle("B", "A")] * 50 + [battle("A", "Z")] * 100 + [battle("Z", "A")] * 96
    board = leaderboard(rows, rounds=500)
    ranks = {r.variant: r.rank for r in board.ratings}
    assert ranks == {"A": 1, "Z": 1, "B": 3}  # A and Z overlap; both sit clearly above B


def test_to_dict_is_json_ready_and_runs_are_reproducible():
    board = leaderboard(A_BEATS_B_3_1 + [battle("A", "B", "oops")], rounds=200, seed=5)
    data = board.to_dict()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text)["win_fraction"][0][0] is None
    assert data["skipped"] == {"unknown_winner": 1} and data["rounds"] == 200
    assert data == leaderboard(A_BEATS_B_3_1 + [battle("A", "B", "oops")], rounds=200, seed=5).to_dict()
    assert data != leaderboard(A_BEATS_B_3_1, rounds=200, seed=6).to_dict()


def test_empty_board_and_bad_settings():
    board = leaderboard([battle("A", "A")], rounds=200)
    assert board.ratings == [] and board.variants == [] and board.n_battles == 0
    assert board.skipped == {"same_variant": 1}
    json.dumps(board.to_dict(), allow_nan=False)
    with pytest.raises(ValueError, match="at least 200"):
        leaderboard(A_BEATS_B_3_1, rounds=199)
    with pytest.raises(ValueError):
        leaderboard(A_BEATS_B_3_1, confidence=95)


# ---------------------------------------------------------------------------------------- simulation
#
# Truth: five variants on the Elo scale, 320 points from first to last. Every pair meets 200 times
# (2000 battles), with the sides shuffled. Ties happen in 10% of battles and take half their
# probability from each side's win: P(A wins) = p - 0.05, P(B wins) = 1 - p - 0.05, P(tie) = 0.1, where
# p is the Bradley–Terry probability. So A's expected share with ties as halves is exactly p, and
# the tie-as-half-win fit estimates the true ratings.

TRUE_RATINGS = {"v1": 1160.0, "v2": 1080.0, "v3": 1000.0, "v4": 920.0, "v5": 840.0}
TIE_RATE = 0.1


def simulate_battles(rng: np.random.Generator, per_pair: int = 200) -> list[dict]:
    names = sorted(TRUE_RATINGS)
    rows = []
    for n, first in enumerate(names):
        for second in names[n + 1:]:
            p = 1.0 / (1.0 + 10 ** ((TRUE_RATINGS[second] - TRUE_RATINGS[first]) / 400))
            outcomes = rng.choice(3, size=per_pair, p=[p - TIE_RATE / 2, 1 - p - TIE_RATE / 2, TIE_RATE])
            swapped = rng.random(per_pair) < 0.5
            for outcome, swap in zip(outcomes, swapped, strict=True):
                a, b = (second, first) if swap else (first, second)
                if outcome == 2:
                    winner = "tie"
                else:
                    winner = "model_a" if (outcome == 0) != swap else "model_b"
                rows.append(battle(a, b, winner))
    return rows


def test_simulation_recovers_the_true_order():
    true_order = sorted(TRUE_RATINGS, key=TRUE_RATINGS.get, reverse=True)
    for seed in range(5):
        rows = simulate_battles(np.random.default_rng(100 + seed))
        assert len(rows) == 2000 and {r["winner"] for r in rows} <= set(WINNERS)
        fitted = bradley_terry(rows)
        order = sorted(fitted, key=fitted.get, reverse=True)
        for position, (got, want) in enumerate(zip(order, true_order, strict=True)):
            if got != want:  # tolerate only an adjacent swap of variants less than 30 points apart
                neighbours = true_order[max(0, position - 1): position + 2]
                assert got in neighbours and abs(TRUE_RATINGS[got] - TRUE_RATINGS[want]) < 30, (order, true_order)
        errors = [fitted[name] - TRUE_RATINGS[name] for name in TRUE_RATINGS]  # both centred on 1000
        assert max(abs(e) for e in errors) < 60


def _independent_fit(rows: list[dict]) -> dict[str, float]:
    """Plain Bradley–Terry maximum likelihood, one term per battle row, by BFGS (first variant fixed at 0)."""
    names = sorted({r["model_a"] for r in rows} | {r["model_b"] for r in rows})
    index = {name: i for i, name in enumerate(names)}
    a = np.array([index[r["model_a"]] for r in rows])
    b = np.array([index[r["model_b"]] for r in rows])
    score = np.array([{"model_a": 1.0, "model_b": 0.0}.get(r["winner"], 0.5) for r in rows])

    def negative_log_likelihood(free: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.concatenate([[0.0], free])
        p = expit(theta[a] - theta[b])
        value = -(score * np.log(p) + (1 - score) * np.log1p(-p)).sum()
        grad = np.zeros(len(names))
        np.add.at(grad, a, p - score)
        np.add.at(grad, b, score - p)
        return value, grad[1:]

    fit = minimize(negative_log_likelihood, np.zeros(len(names) - 1), jac=True, method="BFGS",
                   options={"gtol": 1e-10})
    theta = np.concatenate([[0.0], fit.x])
    return {name: 1000.0 + 400.0 * (theta[i] - theta.mean()) / math.log(10) for name, i in index.items()}


def test_many_votes_are_untouched_by_the_prior():
    rows = simulate_battles(np.random.default_rng(7), per_pair=300)
    assert len(rows) == 3000
    expected = _independent_fit(rows)
    fitted = bradley_terry(rows)
    assert max(abs(fitted[name] - expected[name]) for name in expected) < 0.01
    board = leaderboard(rows, rounds=200)
    assert not any(r.provisional for r in board.ratings)
    assert {r.variant: r.rating for r in board.ratings} == pytest.approx(fitted)


def _duels(rng: np.random.Generator, truth: dict[str, float], a: str, b: str, n: int) -> list[dict]:
    p = 1.0 / (1.0 + 10 ** ((truth[b] - truth[a]) / 400))
    return [battle(a, b, "model_a" if won else "model_b") for won in rng.random(n) < p]


@pytest.mark.parametrize("truth, first_votes", [({"A": 1100.0, "B": 1000.0}, 6),
                                                ({"A": 1080.0, "B": 1000.0, "C": 900.0}, 90)])
def test_votes_to_separate_the_top_two_do_separate_them(truth, first_votes):
    """Votes drawn from known strengths: after the estimated number of further votes between the top two,
    the interval of their difference excludes 0 in most repeats. The estimate aims at 80% if the current lead
    is real; over 100 boards each, these two cases separate in about 75% and 88% of them."""
    names = sorted(truth)
    pairs = [(x, y) for n, x in enumerate(names) for y in names[n + 1:]]
    separated, repeats, seed = 0, 0, 0
    while repeats < 10:  # ten boards whose top two are not told apart yet
        rng = np.random.default_rng(seed)
        seed += 1
        rows = [row for _ in range(first_votes // len(pairs)) for x, y in pairs for row in _duels(rng, truth, x, y, 1)]
        before = leaderboard(rows, rounds=200, seed=seed).votes_to_separate_top_two
        if before.separated:
            assert before.votes == 0
            continue
        repeats += 1
        more = _duels(rng, truth, before.leader, before.runner_up, before.votes)
        after = leaderboard(rows + more, rounds=200, seed=seed).votes_to_separate_top_two
        separated += after.separated
    print(f"top two separated after the estimated votes: {separated}/{repeats} ({seed} boards drawn)")
    assert separated >= 0.6 * repeats


def test_simulation_interval_coverage():
    datasets, hits, total = 60, 0, 0
    centred_truth = {k: v - np.mean(list(TRUE_RATINGS.values())) + 1000.0 for k, v in TRUE_RATINGS.items()}
    for seed in range(datasets):
        board = leaderboard(simulate_battles(np.random.default_rng(1000 + seed)), rounds=200, seed=seed)
        for r in board.ratings:
            total += 1
            hits += r.lower <= centred_truth[r.variant] <= r.upper
    coverage = hits / total
    print(f"coverage of 95% intervals: {coverage:.3f} ({hits}/{total})")
    assert 0.88 <= coverage <= 0.99


# ---------------------------------------------------------------------------------------- rating summary


def rating(item: str, rater: str, variant: str, **scores: int) -> dict:
    return {"item_id": item, "rater_id": rater, "variant": variant, "scores": scores}


def test_rating_summary_keeps_latest_and_averages_raters_per_answer():
    rows = [
        rating("q1", "ann", "qlora", overall=1, relevance=5),  # replaced by ann's later rating
        rating("q1", "ann", "qlora", overall=5),
        rating("q1", "bob", "qlora", overall=4),
        rating("q2", "ann", "qlora", overall=2),
        rating("q1", "ann", "raft", overall=3, relevance=4),
        rating("q1", "bob", "raft", overall=3, relevance=4),
    ]
    summary = rating_summary(rows)
    assert summary.variants == ["qlora", "raft"]
    assert summary.criteria == ["relevance", "overall"]
    assert summary.n_ratings == 5 and summary.n_raters == 2
    assert summary.skipped == {"replaced_by_later_rating": 1}
    overall = summary.score("qlora", "overall")
    assert (overall.mean, overall.n) == (pytest.approx((4.5 + 2) / 2), 2)  # q1 averaged over ann and bob first
    assert overall.lower <= overall.mean <= overall.upper
    relevance = summary.score("qlora", "relevance")
    assert relevance.n == 0 and math.isnan(relevance.mean)  # ann's relevance score was replaced
    single = summary.score("raft", "relevance")
    assert single.mean == 4.0 and single.n == 1 and math.isnan(single.lower)


def test_rating_summary_agreement_and_skips():
    rows = [rating(f"q{i}", rater, "qlora", overall=score, helpfulness=[1, 2, 3, 4, 5][i])
            for i, scores in enumerate([(1, 1), (2, 2), (4, 5), (5, 5), (3, 3)])
            for rater, score in zip(("ann", "bob"), scores, strict=True)]
    rows += [
        rating("q9", "cat", "qlora", overall=7, tone=3),  # score out of range; unknown criterion
        {"item_id": "q9", "variant": "qlora", "scores": {"overall": 3}},  # no rater
        {"item_id": "q9", "rater_id": "dan", "variant": "qlora"},  # no scores
        rating("q8", "cat", "qlora", overall=2),  # replaced by the next row
        rating("q8", "cat", "qlora", overall=True),  # not a 1..5 score
    ]
    summary = rating_summary(rows, seed=3)
    agreement = {a.criterion: a for a in summary.agreement}
    assert agreement["helpfulness"].alpha == pytest.approx(1.0)
    assert 0.8 < agreement["overall"].alpha < 1.0
    assert (agreement["overall"].n_items, agreement["overall"].n_raters) == (5, 2)
    assert summary.skipped == {"score_not_1_to_5": 2, "unknown_criterion": 1, "missing_item_variant_or_rater": 1,
                               "no_scores": 1, "replaced_by_later_rating": 1}
    json.dumps(summary.to_dict(), allow_nan=False)
    assert summary.to_dict() == rating_summary(rows, seed=3).to_dict()


def test_rating_summary_single_rater_and_empty():
    summary = rating_summary([rating("q1", "ann", "raft", overall=4), rating("q2", "ann", "raft", overall=2)])
    assert math.isnan(summary.agreement[0].alpha) and summary.agreement[0].n_items == 0
    assert summary.to_dict()["agreement"][0]["alpha"] is None
    empty = rating_summary([])
    assert empty.scores == [] and empty.variants == [] and empty.agreement == []
    json.dumps(empty.to_dict(), allow_nan=False)
