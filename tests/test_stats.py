"""Interval statistics and Krippendorff's alpha against scipy, published and hand-worked values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from travelbot.stats import krippendorff_alpha, mean_interval, wilson_interval

# ---------------------------------------------------------------------------------------- wilson


@pytest.mark.parametrize(("successes", "n", "confidence"), [(7, 20, 0.95), (0, 10, 0.95), (10, 10, 0.9),
                                                             (1, 1, 0.95), (123, 400, 0.99)])
def test_wilson_matches_scipy(successes, n, confidence):
    expected = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    assert wilson_interval(successes, n, confidence) == pytest.approx((expected.low, expected.high), abs=1e-12)


def test_wilson_known_value_and_edges():
    # Zero successes in ten: upper end z²/n / (1 + z²/n) with z = 1.959964.
    lower, upper = wilson_interval(0, 10)
    assert lower == 0.0
    assert upper == pytest.approx(0.2775, abs=1e-4)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    lower, upper = wilson_interval(2.5, 5)  # fractional successes (ties as halves) are allowed
    assert lower < 0.5 < upper and lower + upper == pytest.approx(1.0)
    with pytest.raises(ValueError):
        wilson_interval(6, 5)
    with pytest.raises(ValueError):
        wilson_interval(1, 5, confidence=1.0)


# ---------------------------------------------------------------------------------------- means and bootstrap


def test_mean_interval_is_reproducible_and_sensible():
    values = [1, 2, 2, 3, 4, 4, 4, 5, 5, 3]
    first = mean_interval(values, seed=7)
    assert first == mean_interval(values, seed=7)
    continuous = np.random.default_rng(0).normal(size=30)
    assert mean_interval(continuous, seed=7) != mean_interval(continuous, seed=8)
    mean, lower, upper, n = first
    assert mean == pytest.approx(3.3) and n == 10
    assert 1 <= lower < mean < upper <= 5
    # The interval narrows with a lower confidence.
    _, low90, high90, _ = mean_interval(values, 0.9, seed=7)
    assert lower <= low90 and high90 <= upper


def test_mean_interval_small_and_missing():
    assert mean_interval([4.0, float("nan")])[0] == 4.0
    mean, lower, upper, n = mean_interval([4.0])
    assert (mean, n) == (4.0, 1) and math.isnan(lower) and math.isnan(upper)
    mean, lower, upper, n = mean_interval([])
    assert n == 0 and all(math.isnan(v) for v in (mean, lower, upper))
    assert mean_interval([3, 3, 3])[:3] == (3.0, 3.0, 3.0)


def test_krippendorff_perfect_agreement_is_one():
    table = [[1, 2, 3, 4, 5], [1, 2, 3, 4, 5], [1, np.nan, 3, 4, 5]]
    assert krippendorff_alpha(table) == pytest.approx(1.0)


def test_krippendorff_hand_worked_example():
    # Two raters, two items: (1, 1) and (2, 3). Pairable values 1, 1, 2, 3 (n = 4).
    # Observed disagreement: item 2 contributes both orders of (2, 3) -> D_o = 2 * delta(2, 3) / 4.
    # Interval: delta = difference², D_o = 0.5, D_e = 22 / 12 -> alpha = 8 / 11.
    # Nominal: D_o = 0.5, D_e = 10 / 12 -> alpha = 0.4.
    # Ordinal: delta(c, k) = (sum of counts from c to k - (n_c + n_k) / 2)² with counts 2, 1, 1:
    # delta(1, 2) = 2.25, delta(1, 3) = 6.25, delta(2, 3) = 1 -> D_o = 0.5, D_e = 36 / 12 -> alpha = 5 / 6.
    table = [[1, 2], [1, 3]]
    assert krippendorff_alpha(table, "interval") == pytest.approx(8 / 11)
    assert krippendorff_alpha(table, "nominal") == pytest.approx(0.4)
    assert krippendorff_alpha(table, "ordinal") == pytest.approx(5 / 6)


def test_krippendorff_published_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", 4 observers x 12 units: ordinal 0.815.
    table = [[1, 2, 3, 3, 2, 1, 4, 1, 2, np.nan, np.nan, np.nan],
             [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, np.nan, 3],
             [np.nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, np.nan],
             [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, np.nan]]
    assert krippendorff_alpha(table) == pytest.approx(0.815, abs=5e-4)
    assert krippendorff_alpha(table, "nominal") == pytest.approx(0.743, abs=5e-4)


def test_krippendorff_undefined_is_nan():
    assert math.isnan(krippendorff_alpha([[1, 2, 3, 4]]))  # a single rater
    assert math.isnan(krippendorff_alpha([[1, np.nan], [np.nan, 2]]))  # no item rated twice
    assert math.isnan(krippendorff_alpha([[4, 4], [4, 4]]))  # one value only: no expected disagreement
    assert math.isnan(krippendorff_alpha(np.empty((0, 0))))
    with pytest.raises(ValueError):
        krippendorff_alpha([[1, 2], [1, 2]], level="fuzzy")


@pytest.mark.parametrize("tune", [True, False])
def test_ppi_covers_the_truth_with_a_biased_judge_and_is_narrower_than_people_alone(tune: bool) -> None:
    from travelbot.stats import ppi_mean

    rng = np.random.default_rng(0)
    truth, bias, rounds, n, big_n = 3.2, 0.8, 1000, 60, 1200
    covered = narrower = 0
    worth = []
    for _ in range(rounds):
        people = rng.normal(truth, 1.0, n + big_n)  # what people would say about every item
        judge = 0.9 * people + bias + rng.normal(0.0, 0.5, n + big_n)  # correlated, biased, noisy
        result = ppi_mean(people[:n], judge[:n], judge[n:], tune=tune)
        covered += result["lower"] <= truth <= result["upper"]
        narrower += result["upper"] - result["lower"] < result["classical_upper"] - result["classical_lower"]
        worth.append(result["effective_n"])
    assert 0.93 <= covered / rounds <= 0.97, covered / rounds
    assert narrower == rounds  # a judge that correlates with people always narrows the interval
    assert np.median(worth) > 2 * n  # here the judge's labels are worth more than twice the human ones


def test_ppi_with_a_useless_judge_falls_back_to_people_and_needs_two_labels() -> None:
    from travelbot.stats import ppi_mean

    rng = np.random.default_rng(1)
    people, noise = rng.normal(0.5, 0.2, 80), rng.normal(0.0, 1.0, 1080)
    result = ppi_mean(people, noise[:80], noise[80:])
    assert result["lambda"] < 0.3  # tuned close to 0: the judge carries no information
    classical = result["classical_upper"] - result["classical_lower"]
    assert result["upper"] - result["lower"] < 1.1 * classical
    assert math.isnan(ppi_mean([1.0], [1.0], [1.0, 0.0])["estimate"])
    with pytest.raises(ValueError, match="a prediction for every labelled item"):
        ppi_mean([1.0, 2.0], [1.0], [1.0])
