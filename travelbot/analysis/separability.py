"""Separability and agreement with confidence: can an automatic ranking of the variants (an LLM judge's
Bradley–Terry board, a metric's per-variant means) tell them apart, and does it order them as people do?

Arena-Hard compares automatic benchmarks with the human leaderboard by these two figures (Li et al. 2024,
"From Crowdsourced Data to High-Quality Benchmarks: Arena-Hard and BenchBuilder Pipeline", arXiv:2406.11939;
the LMSYS blog post "From Live Data to High-Quality Benchmarks: The Arena-Hard Pipeline", 2024-04-19, and the
arena-hard-auto README, "Evaluate Benchmarks"). Both rest on each ranking's bootstrap intervals, not on its
point scores, so a ranking earns nothing for an order it is not sure of:

- **Separability with confidence**: the share of variant pairs whose intervals do not overlap.
- **Agreement with confidence** of a ranking A with a reference ranking B (here people's board): over the
  pairs B separates with confidence, +1 where A separates them in the same order, −1 where A separates them
  in the opposite order, 0 where A's intervals overlap; the mean of those scores. 1: A confidently agrees
  with people on every pair they are sure of; −1: it confidently contradicts them on every one.

Two intervals overlap when they share any point (touching ends included); a missing interval separates
nothing. Pairs A separates but people do not are not scored, as in Arena-Hard; they are counted
(``unconfirmed``). No interval is put on either figure (Arena-Hard reports none, and both are already built
from intervals); ``tests/analysis/test_separability.py`` checks from simulated battles with known strengths
that they behave: a judge that follows the truth agrees near 1, a reversed one near −1, a coin near 0, and
a separated pair is almost never in the wrong order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from travelbot.stats import mean_interval

Interval = tuple[float, float, float]  # (score, lower, upper) of one variant on one ranking
LABEL_WINNERS = {"A": "model_a", "B": "model_b", "tie": "tie"}  # a pairwise verdict as a battle row's winner

SEPARABILITY_MEANS = ("Separability (Arena-Hard): the share of pairs of variants whose 95% intervals on this "
                      "ranking do not overlap — how often it can tell two variants apart at all.")
AGREEMENT_MEANS = ("Agreement with confidence (Arena-Hard): over the pairs people's board tells apart, +1 where "
                   "this ranking tells them apart in the same order, −1 in the opposite order, 0 where it cannot "
                   "tell; the mean — 1 agrees with people on every pair they are sure of, −1 contradicts them, "
                   "0 says nothing.")


def order_with_confidence(a: Interval, b: Interval) -> int:
    """+1 when a's interval lies wholly above b's, −1 wholly below, 0 when they overlap or either is unknown."""
    (_, low_a, high_a), (_, low_b, high_b) = a, b
    if any(x is None or math.isnan(x) for x in (low_a, high_a, low_b, high_b)):
        return 0
    return 1 if low_a > high_b else -1 if high_a < low_b else 0


@dataclass(frozen=True)
class RankingAgreement:
    """One automatic ranking of the variants against people's board, pair by pair with confidence."""

    name: str  # the automatic ranking: a judge model or a metric
    kind: str  # "LLM judge", "metric", ...
    variants: tuple[str, ...]  # on both rankings
    separated: int  # pairs this ranking's intervals tell apart
    people_separated: int  # pairs people's board tells apart: the pairs agreement is scored on
    agree: int  # +1: people's pairs it tells apart in the same order
    undecided: int  # 0: people's pairs whose intervals overlap on this ranking
    disagree: int  # −1: people's pairs it tells apart in the opposite order
    unconfirmed: int  # pairs it tells apart that people's board does not (not scored)
    confidence: float = 0.95  # the level of both rankings' intervals

    @property
    def pairs(self) -> int:
        return len(self.variants) * (len(self.variants) - 1) // 2

    @property
    def separability(self) -> float:
        return self.separated / self.pairs if self.pairs else math.nan

    @property
    def people_separability(self) -> float:
        return self.people_separated / self.pairs if self.pairs else math.nan

    @property
    def agreement(self) -> float:
        return (self.agree - self.disagree) / self.people_separated if self.people_separated else math.nan

    def sentences(self) -> list[str]:
        """What the two figures say about this ranking, one sentence each."""
        level = f"{self.confidence:.0%}"
        if not self.pairs:
            return [f"{self.name} and people's board share fewer than two variants: nothing to compare."]
        separability = (f"Separability {self.separability:.0%}: {self.name}'s {level} intervals tell apart "
                        f"{self.separated} of the {self.pairs} pairs of its {len(self.variants)} variants "
                        f"(people's board: {self.people_separated}).")
        if not self.people_separated:
            agreement = ("Agreement with confidence is undefined: people's board tells no pair apart yet, "
                         "so there is nothing to agree with.")
        else:
            agreement = (f"Agreement with confidence {self.agreement:+.2f}: of the {self.people_separated} pairs "
                         f"people tell apart, {self.name} orders {self.agree} the same way, {self.disagree} the "
                         f"opposite way and cannot tell {self.undecided} apart.")
        return [separability, agreement]

    def to_dict(self) -> dict[str, Any]:
        clean = lambda x: None if math.isnan(x) else x
        return {"name": self.name, "kind": self.kind, "variants": list(self.variants), "pairs": self.pairs,
                "separability": {"value": clean(self.separability), "separated": self.separated, "n": self.pairs},
                "people_separability": {"value": clean(self.people_separability),
                                        "separated": self.people_separated, "n": self.pairs},
                "agreement_with_confidence": {"value": clean(self.agreement), "agree": self.agree,
                                              "undecided": self.undecided, "disagree": self.disagree,
                                              "n": self.people_separated},
                "unconfirmed": self.unconfirmed, "confidence": self.confidence, "sentences": self.sentences()}


def ranking_agreement(name: str, automatic: Mapping[str, Interval], people: Mapping[str, Interval], *,
                      kind: str = "", confidence: float = 0.95) -> RankingAgreement:
    """Separability of the automatic ranking and its agreement with confidence with people's, over the variants
    both rank (each a ``variant -> (score, lower, upper)`` mapping; a higher score is better)."""
    variants = tuple(sorted(set(automatic) & set(people)))
    counts = {"separated": 0, "people_separated": 0, "agree": 0, "undecided": 0, "disagree": 0, "unconfirmed": 0}
    for a, b in combinations(variants, 2):
        mine, theirs = order_with_confidence(automatic[a], automatic[b]), order_with_confidence(people[a], people[b])
        counts["separated"] += mine != 0
        counts["people_separated"] += theirs != 0
        if theirs == 0:
            counts["unconfirmed"] += mine != 0
        else:
            counts["agree" if mine == theirs else "undecided" if mine == 0 else "disagree"] += 1
    return RankingAgreement(name, kind, variants, **counts, confidence=confidence)


def board_intervals(ratings: Iterable[Any]) -> dict[str, Interval]:
    """A Bradley–Terry board's ratings (``Leaderboard.ratings``) as ``variant -> (rating, lower, upper)``."""
    return {r.variant: (r.rating, r.lower, r.upper) for r in ratings}


def verdict_board(verdicts: Iterable[tuple[str, str, str | None]], *, rounds: int = 1000,
                  seed: int = 0) -> dict[str, Interval]:
    """The leaderboard's Bradley–Terry ratings with bootstrap intervals (``feedback.leaderboard``), fitted on
    pairwise verdicts ``(model A, model B, "A" | "B" | "tie")`` as battles; a missing verdict is left out."""
    from travelbot.feedback.leaderboard import MIN_ROUNDS, leaderboard

    battles = [{"model_a": a, "model_b": b, "winner": LABEL_WINNERS[label]} for a, b, label in verdicts
               if label is not None]
    rounds = max(rounds, MIN_ROUNDS)  # the board refuses fewer resamples than this
    return board_intervals(leaderboard(battles, rounds=rounds, seed=seed).ratings) if battles else {}


def mean_intervals(values: Mapping[str, Sequence[float]], *, confidence: float = 0.95, rounds: int = 1000,
                   seed: int = 0) -> dict[str, Interval]:
    """Each variant's mean score with its percentile-bootstrap interval over its answers (``stats.mean_interval``)."""
    return {variant: mean_interval(scores, confidence, rounds=rounds, seed=seed)[:3]
            for variant, scores in values.items()}
