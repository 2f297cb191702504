"""Which pair the arena shows next, once every pair has a few votes: the one whose next vote is expected
to shrink most the uncertainty that matters, the order of the top variants (``TRAVELBOT_ARENA_PAIRING=active``,
the default; ``balanced`` keeps drawing by deficit against each pair's target share).

Chatbot Arena (Chiang et al. 2024, §5.2) draws a pair in proportion to how much one more vote would shrink
that pair's own interval. Separating the top variants is better served by asking what a vote does to the
intervals of the leader's lead over each other variant, since a vote on any pair moves them through the
whole Bradley–Terry fit. With ``I`` the fit's information matrix (the board's weak prior plus ``n p q`` per
pair; ``p`` the fitted win probability, ``q = 1 - p``) and ``C = I^-1``, one more vote on pair ``u = e_a - e_b``
shrinks the variance of a contrast ``c`` (leader minus variant j) by ``p q (c' C u)^2 / (1 + p q u' C u)``
(Sherman–Morrison). Each contrast is weighted by the chance that variant j is really ahead of the leader,
``Phi(-d_j / se_j)``; a pair's score is the weighted sum, and pairs are drawn in proportion to the score
cubed (close to always taking the best pair, without locking onto it). A floor of exploration keeps every
pair in play: ``EXPLORATION`` of the draws are spread evenly over the pairs. Until every pair has
``ACTIVE_AFTER`` votes the balanced rule draws. ``bench/arena_stats.py`` reports, from the same strengths and
seeds, how many votes this rule and uniform drawing take to separate the top two.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from scipy.stats import norm

from travelbot.feedback.leaderboard import fit_strengths

ACTIVE_AFTER = 3  # votes per pair before the active rule takes over
EXPLORATION = 0.1  # share of draws spread evenly over all pairs
SHARPNESS = 3.0  # pairs are drawn in proportion to their score to this power
PAIRINGS = ("balanced", "active")


def active_weights(pairs: list[frozenset], battles: Iterable[Mapping[str, Any]]) -> list[float] | None:
    """Draw weights for ``pairs`` (summing to 1), or None while some pair has fewer than ``ACTIVE_AFTER`` votes."""
    wanted = set(pairs)
    rows = [row for row in battles if frozenset((row.get("model_a"), row.get("model_b"))) in wanted]
    votes = Counter(frozenset((row["model_a"], row["model_b"])) for row in rows)
    if not pairs or any(votes[pair] < ACTIVE_AFTER for pair in pairs):
        return None
    names, theta, fisher = fit_strengths(rows)  # the fit's curvature: the board's prior plus n p q per pair
    index = {name: i for i, name in enumerate(names)}
    k = len(names)
    directions, information = [], []
    for pair in pairs:
        a, b = (index[name] for name in sorted(pair))
        u = np.zeros(k)
        u[a], u[b] = 1.0, -1.0
        p = 1.0 / (1.0 + math.exp(-(theta[a] - theta[b])))
        directions.append(u)
        information.append(p * (1.0 - p))
    covariance = np.linalg.inv(fisher)
    leader = int(np.argmax(theta))
    contrasts, weights = [], []
    for j in range(k):
        if j != leader:
            c = np.zeros(k)
            c[leader], c[j] = 1.0, -1.0
            contrasts.append(c)
            weights.append(norm.sf((theta[leader] - theta[j]) / math.sqrt(c @ covariance @ c)))
    scores = []
    for u, pq in zip(directions, information, strict=True):
        moved = covariance @ u
        shrink = pq / (1.0 + pq * (u @ moved))
        scores.append(sum(w * shrink * (c @ moved) ** 2 for c, w in zip(contrasts, weights, strict=True)))
    sharpened = np.asarray(scores) ** SHARPNESS
    spread = 1.0 / len(pairs)
    if not sharpened.sum() > 0:
        return [spread] * len(pairs)
    return list((1.0 - EXPLORATION) * sharpened / sharpened.sum() + EXPLORATION * spread)
