"""Which pair the arena shows next, once every pair has a few votes: the one whose next vote should
shrink the uncertainty that matters most, the order of the top variants (``TRAVELBOT_ARENA_PAIRING=active``;
the default, ``balanced``, keeps drawing by deficit against each pair's target share: in
``bench/arena_stats.py`` this rule has so far needed more votes than uniform drawing to separate the top two,
median 712 against 600 over 20 paired repeats, so it is not the default).

Chatbot Arena (Chiang et al. 2024, §5.2) draws a pair with probability proportional to how much one more
vote would shrink its interval: ``sqrt(1/(n p q)) - sqrt(1/((n + 1) p q))`` for a pair with ``n`` votes
and win probability ``p = 1 - q`` (Bradley–Terry, the board's weak prior). Here that gain is weighted by
what the vote can still change: the chance the pair's order is not yet settled, ``2 Phi(-|d| / se)`` with
``se = 1/sqrt(n p q)`` its head-to-head standard error, and by whether the pair involves one of the two
best-rated variants (1, else ``OTHERS``). A floor of exploration keeps every pair in play: each draw is
with probability ``EXPLORATION`` uniform over the pairs. Until every pair has ``ACTIVE_AFTER`` votes the
balanced rule draws. ``bench/arena_stats.py`` reports, from the same strengths and seeds, how many votes
each rule takes to separate the top two.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from scipy.stats import norm

from travelbot.feedback.leaderboard import bradley_terry

ACTIVE_AFTER = 3  # votes per pair before the active rule takes over
EXPLORATION = 0.2  # share of draws spread evenly over all pairs
OTHERS = 0.25  # weight of a pair that involves neither of the two best-rated variants
PAIRINGS = ("active", "balanced")


def active_weights(pairs: list[frozenset], battles: Iterable[Mapping[str, Any]]) -> list[float] | None:
    """Draw weights for ``pairs`` (summing to 1), or None while some pair has fewer than ``ACTIVE_AFTER`` votes."""
    rows = [row for row in battles if frozenset((row.get("model_a"), row.get("model_b"))) in set(pairs)]
    votes = Counter(frozenset((row["model_a"], row["model_b"])) for row in rows)
    if not pairs or any(votes[pair] < ACTIVE_AFTER for pair in pairs):
        return None
    to_theta = math.log(10.0) / 400.0
    ratings = bradley_terry(rows)
    top = set(sorted(ratings, key=lambda name: -ratings[name])[:2])
    gains = []
    for pair in pairs:
        a, b = sorted(pair)
        p = 1.0 / (1.0 + math.exp(-(ratings[a] - ratings[b]) * to_theta))
        information = p * (1.0 - p)
        n = votes[pair]
        gain = math.sqrt(1.0 / (n * information)) - math.sqrt(1.0 / ((n + 1) * information))
        unsettled = 2.0 * norm.sf(abs(ratings[a] - ratings[b]) * to_theta * math.sqrt(n * information))
        gains.append(gain * unsettled * (1.0 if pair & top else OTHERS))
    total = sum(gains)
    spread = 1.0 / len(pairs)
    if total <= 0:
        return [spread] * len(pairs)
    return [(1.0 - EXPLORATION) * g / total + EXPLORATION * spread for g in gains]
