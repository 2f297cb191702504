"""Arena battles simulated from known truth: strengths on the rating scale, optionally a known preference
for longer answers. The statistics of the leaderboard, style control and pair drawing are checked
against these (tests, ``bench/arena_stats.py``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

TO_THETA = math.log(10.0) / 400.0  # rating points -> natural-log strength


@dataclass(frozen=True)
class Truth:
    """What the simulated voters follow."""

    ratings: dict[str, float]  # variant -> true rating (only differences matter)
    words: dict[str, float] | None = None  # variant -> median answer length in words; None: one fixed length
    length_beta: float = 0.0  # log-odds per unit of the normalised length difference (a - b) / (a + b)

    def win_probability(self, a: str, b: str, words_a: int, words_b: int) -> float:
        difference = (self.ratings[a] - self.ratings[b]) * TO_THETA
        difference += self.length_beta * (words_a - words_b) / (words_a + words_b)
        return 1.0 / (1.0 + math.exp(-difference))


def _conversation(question: str, words: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": "stay " * words}]


def battle(truth: Truth, a: str, b: str, rng: np.random.Generator, tie_rate: float = 0.0,
           question: str = "Where should I stay?") -> dict:
    """One FastChat battle row between ``a`` and ``b`` (answers of random length around each median)."""
    words = truth.words or {}
    words_a = max(1, round(rng.lognormal(math.log(words.get(a, 80.0)), 0.3)))
    words_b = max(1, round(rng.lognormal(math.log(words.get(b, 80.0)), 0.3)))
    if rng.random() < tie_rate:
        winner = "tie"
    else:
        winner = "model_a" if rng.random() < truth.win_probability(a, b, words_a, words_b) else "model_b"
    return {"model_a": a, "model_b": b, "winner": winner,
            "conversation_a": _conversation(question, words_a), "conversation_b": _conversation(question, words_b)}


def simulate(truth: Truth, n: int, rng: np.random.Generator, *, tie_rate: float = 0.0,
             draw: Callable[[Sequence[dict]], tuple[str, str]] | None = None) -> list[dict]:
    """``n`` battles, each on its own question; each pair drawn uniformly, or by ``draw(battles so far)``."""
    names = sorted(truth.ratings)
    battles: list[dict] = []
    for _ in range(n):
        if draw is None:
            i, j = rng.choice(len(names), 2, replace=False)
            a, b = names[i], names[j]
        else:
            a, b = draw(battles)
        battles.append(battle(truth, a, b, rng, tie_rate, question=f"Simulated question {len(battles) + 1}"))
    return battles
