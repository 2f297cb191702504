"""Style control: strengths fitted jointly with style covariates recover the truth a length preference hides."""

from __future__ import annotations

import math

import numpy as np
import pytest

from travelbot.feedback.leaderboard import bradley_terry
from travelbot.feedback.simulation import Truth, simulate
from travelbot.feedback.style import normalised_differences, style_control, style_counts

TRUTH = Truth({"concise-strong": 1100, "plain": 1050, "middle": 1000, "verbose-weak": 850},
              {"concise-strong": 30, "plain": 40, "middle": 50, "verbose-weak": 110}, length_beta=2.0)


def test_counts_and_normalised_differences():
    text = "# Title\n\n- one\n- two\n1. three\n\n**bold** and __also bold__ but *not*"
    counts = style_counts([text, "plain words here", ""])
    assert counts[0, 1:].tolist() == [1, 3, 2] and counts[1].tolist() == [3, 0, 0, 0] and counts[2].tolist() == [0] * 4
    long = style_counts(["word " * 600])[0, 0]
    assert long == 600  # the tokenizer file's 128-token cut does not apply to counting
    assert normalised_differences(np.array([[3.0, 0.0]]), np.array([[1.0, 0.0]])).tolist() == [[0.5, 0.0]]


def test_controlled_ratings_recover_the_strengths_the_raw_ones_miss():
    battles = simulate(TRUTH, 1500, np.random.default_rng(3))
    result = style_control(battles)
    by_name = {r.variant: r for r in result.ratings}
    true = {name: rating - np.mean(list(TRUTH.ratings.values())) + 1000 for name, rating in TRUTH.ratings.items()}
    for name, rating in by_name.items():
        half = (rating.upper - rating.lower) / 2
        assert abs(rating.rating - true[name]) < 1.5 * half, name  # controlled: at the truth
    weak = by_name["verbose-weak"]
    assert weak.raw - true["verbose-weak"] > 2 * (weak.upper - weak.lower) / 2  # raw: lifted by its length
    assert weak.raw == pytest.approx(bradley_terry(battles)["verbose-weak"], abs=0.5)
    length = result.coefficients[0]
    true_beta = TRUTH.length_beta * length.sd  # the fit's beta is per standard deviation of the difference
    assert length.style == "length" and length.lower < true_beta < length.upper and length.lower > 0
    assert length.points == pytest.approx(length.beta * 400 / math.log(10))
    assert length.sentence.startswith("People here prefer the side with more answer length in tokens: +")
    assert [c.style for c in result.coefficients[1:]] == ["headers", "lists", "bold"]
    assert all(math.isnan(c.beta) and "never differed" in c.sentence for c in result.coefficients[1:])
    assert result.n_battles == 1500 and [r.rank for r in result.ratings][0] == 1


def test_without_a_style_effect_nothing_is_claimed_and_ratings_match_the_raw_fit():
    battles = simulate(Truth(TRUTH.ratings, TRUTH.words, length_beta=0.0), 800, np.random.default_rng(5))
    result = style_control(battles)
    length = result.coefficients[0]
    assert length.lower < 0 < length.upper and length.sentence.startswith("No measurable preference")
    for rating in result.ratings:
        assert abs(rating.rating - rating.raw) < (rating.upper - rating.lower) / 2


def test_ties_unstyled_rows_and_too_few_variants():
    battles = simulate(TRUTH, 200, np.random.default_rng(1), tie_rate=0.3)
    imported = [{"model_a": "plain", "model_b": "middle", "winner": "model_a"}] * 4  # no answers stored
    result = style_control([*battles, *imported, {"model_a": "x", "model_b": "x", "winner": "tie"}])
    assert result.n_battles == 200 and result.skipped == {"no_answers_stored": 4, "not_a_battle": 1}
    assert style_control(imported).ratings == [] and style_control([]).coefficients == []
    with pytest.raises(ValueError, match="Confidence"):
        style_control(battles, confidence=1.0)
