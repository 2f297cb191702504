"""The active pairing rule: undecided pairs of the top variants first, every pair still drawn."""

from __future__ import annotations

import random

from travelbot.feedback.arena import draw_pair
from travelbot.feedback.pairing import ACTIVE_AFTER, EXPLORATION, active_weights
from travelbot.feedback.simulation import Truth

TRUTH = Truth({"top": 1100, "close": 1080, "mid": 900, "low": 700})
NAMES = sorted(TRUTH.ratings)
PAIRS = [frozenset((a, b)) for i, a in enumerate(NAMES) for b in NAMES[i + 1:]]


def votes_per_pair(n: int, seed: int = 0) -> list[dict]:
    """``n`` votes per pair: top and close split evenly, every other pair won 90% by the higher-rated side."""
    rows = []
    for pair in PAIRS:
        a, b = sorted(pair, key=lambda name: -TRUTH.ratings[name])
        wins = n // 2 if pair == frozenset(("top", "close")) else round(0.9 * n)
        rows += [{"model_a": a, "model_b": b, "winner": "model_a" if i < wins else "model_b"} for i in range(n)]
    return rows


def test_the_balanced_rule_draws_until_every_pair_has_a_few_votes():
    assert active_weights(PAIRS, votes_per_pair(ACTIVE_AFTER - 1)) is None
    assert active_weights(PAIRS, []) is None


def test_the_top_two_undecided_pair_is_drawn_most_and_every_pair_keeps_a_floor():
    weights = dict(zip(PAIRS, active_weights(PAIRS, votes_per_pair(30)), strict=True))
    assert abs(sum(weights.values()) - 1.0) < 1e-9
    assert max(weights, key=weights.get) == frozenset(("top", "close"))
    assert weights[frozenset(("top", "close"))] > 0.5
    assert min(weights.values()) >= EXPLORATION / len(PAIRS) - 1e-12  # the exploration floor
    assert weights[frozenset(("mid", "low"))] < weights[frozenset(("top", "mid"))]  # neither is near the top


def test_draw_pair_uses_the_active_rule_given_votes_and_keeps_the_target_weights():
    votes = votes_per_pair(30)
    rng = random.Random(0)
    drawn = [frozenset(draw_pair(dict.fromkeys(NAMES, 1.0), {}, rng, votes=votes)) for _ in range(2000)]
    share = drawn.count(frozenset(("top", "close"))) / len(drawn)
    assert share > 0.5 and all(drawn.count(pair) > 0 for pair in PAIRS)
    weights = {**dict.fromkeys(NAMES, 1.0), "low": 0.0001}  # a variant weighed out is (almost) never drawn
    drawn = [frozenset(draw_pair(weights, {}, rng, votes=votes)) for _ in range(500)]
    assert sum("low" in pair for pair in drawn) <= 2


def test_the_rule_is_a_setting():
    import pytest

    from travelbot.config import Settings
    from travelbot.errors import TravelbotError

    assert Settings.from_env({}).arena_pairing == "active"
    assert Settings.from_env({"TRAVELBOT_ARENA_PAIRING": "Balanced"}).arena_pairing == "balanced"
    with pytest.raises(TravelbotError, match="TRAVELBOT_ARENA_PAIRING must be one of active, balanced"):
        Settings.from_env({"TRAVELBOT_ARENA_PAIRING": "greedy"})
