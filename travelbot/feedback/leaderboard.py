"""The leaderboard: Bradley–Terry ratings from arena battles, and a summary of 1–5 ratings.

Scale. Each variant gets a strength ``s`` by maximum likelihood, where variant i beats j with
probability ``s_i / (s_i + s_j)``; a tie counts as half a win for each side (as FastChat's
``elo_analysis`` does). Strengths are reported on an Elo-like scale,
``rating = center + scale * log_base(s)`` (400 and 10 by default, so a 400-point gap means 10:1 odds),
shifted so that the mean rating over the variants equals ``center``. Only differences mean anything.

Fitting works on aggregated pair counts (the sufficient statistics) by damped Newton steps, with a
ridge penalty ``RIDGE / 2 * sum(log_strength ** 2)`` (a Normal(0, 100²) prior on natural-log
strengths): far too weak to move a rating fitted from real data, it only keeps a variant that won
(or lost) every battle at a finite rating, and separate groups of variants that never met each
centred on ``center``.

Intervals. Battles are resampled with replacement (one multinomial draw over the cells
pair x outcome, which is the same as resampling rows and much faster), the ratings refitted, and
the percentile interval taken. Ranks are CI-aware, like Chatbot Arena's "rank (UB)": one plus the
number of variants whose lower bound lies above this variant's upper bound.

Ratings (``rating_summary``) are averaged per answer over raters, then summarised per variant and
criterion with a bootstrap interval over answers; agreement between raters is Krippendorff's alpha.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit

from travelbot.analysis.stats import krippendorff_alpha, mean_interval, wilson_interval

WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
CRITERIA = ("relevance", "helpfulness", "correctness", "coherence", "conciseness", "overall")
RIDGE = 1e-4
MIN_ROUNDS = 200
_CHUNK = 2000  # bootstrap rounds fitted together; bounds memory for many variants


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, nan to None, recursively."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ---------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class VariantRating:
    variant: str
    rating: float
    lower: float
    upper: float
    rank: int
    battles: int
    wins: int
    losses: int
    ties: int


@dataclass(frozen=True)
class PairRecord:
    """Head-to-head record of two variants (alphabetical); a tie counts half in ``win_rate_a``."""

    variant_a: str
    variant_b: str
    battles: int
    wins_a: int
    wins_b: int
    ties: int
    win_rate_a: float
    lower: float
    upper: float


@dataclass
class Leaderboard:
    """Ratings (best first) with intervals, head-to-head records and k x k matrices in the same order."""

    ratings: list[VariantRating]
    pairs: list[PairRecord]
    variants: list[str]
    n_battles: int
    rounds: int
    seed: int
    confidence: float
    skipped: dict[str, int]
    win_fraction: list[list[float | None]]  # row beat column, among decided battles; None if none decided
    battle_counts: list[list[int]]  # battles between row and column, ties included; symmetric
    scale: float = 400.0
    center: float = 1000.0

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))


# ---------------------------------------------------------------------------------------- counting


@dataclass
class _Tally:
    variants: list[str]  # alphabetical
    pairs: np.ndarray  # (P, 2) variant indices i < j
    counts: np.ndarray  # (P, 3) wins of i, wins of j, ties
    skipped: dict[str, int] = field(default_factory=dict)


def _tally(battles: Iterable[Mapping[str, Any]]) -> _Tally:
    """Count outcomes per pair; every row that cannot be used is counted under a reason."""
    cells: Counter[tuple[str, str, int]] = Counter()
    skipped: Counter[str] = Counter()
    for row in battles:
        if not isinstance(row, Mapping):
            skipped["not_a_battle_row"] += 1
            continue
        a, b, winner = row.get("model_a"), row.get("model_b"), row.get("winner")
        if not (isinstance(a, str) and a.strip() and isinstance(b, str) and b.strip()):
            skipped["missing_variant"] += 1
        elif a == b:
            skipped["same_variant"] += 1
        elif winner not in WINNERS:
            skipped["unknown_winner"] += 1
        else:
            outcome = 2 if winner.startswith("tie") else (0 if winner == "model_a" else 1)
            if a > b:
                a, b, outcome = b, a, (1 - outcome if outcome < 2 else 2)
            cells[(a, b, outcome)] += 1
    variants = sorted({name for a, b, _ in cells for name in (a, b)})
    index = {name: i for i, name in enumerate(variants)}
    pair_keys = sorted({(a, b) for a, b, _ in cells})
    counts = np.array([[cells[(a, b, o)] for o in range(3)] for a, b in pair_keys], dtype=float).reshape(-1, 3)
    pairs = np.array([(index[a], index[b]) for a, b in pair_keys], dtype=int).reshape(-1, 2)
    return _Tally(variants, pairs, counts, dict(skipped))


# ---------------------------------------------------------------------------------------- fitting


def _fit_log_strengths(pairs: np.ndarray, wins: np.ndarray, totals: np.ndarray, k: int,
                       ridge: float = RIDGE, max_iter: int = 200) -> np.ndarray:
    """Penalised Bradley–Terry MLE for R datasets at once: natural-log strengths, shape (R, k), mean 0.

    ``wins[r, p]`` is the score of ``pairs[p, 0]`` against ``pairs[p, 1]`` (ties as halves) out of
    ``totals[r, p]`` battles. Damped Newton on a strictly convex objective: a few iterations.
    """
    n_rows, n_pairs = wins.shape
    design = np.zeros((n_pairs, k))
    design[np.arange(n_pairs), pairs[:, 0]] = 1.0
    design[np.arange(n_pairs), pairs[:, 1]] = -1.0
    outer = (design[:, :, None] * design[:, None, :]).reshape(n_pairs, k * k)
    losses = totals - wins

    def objective(theta: np.ndarray) -> np.ndarray:
        d = theta @ design.T
        return (wins * np.logaddexp(0.0, -d) + losses * np.logaddexp(0.0, d)).sum(1) + 0.5 * ridge * (theta**2).sum(1)

    theta = np.zeros((n_rows, k))
    value = objective(theta)
    for _ in range(max_iter):
        p = expit(theta @ design.T)
        grad = (totals * p - wins) @ design + ridge * theta
        hessian = ((totals * p * (1.0 - p)) @ outer).reshape(n_rows, k, k) + ridge * np.eye(k)
        step = np.linalg.solve(hessian, grad[..., None])[..., 0]
        decrement = (grad * step).sum(1)  # Newton decrement squared: >= 0
        if decrement.max() < 1e-18:
            break
        t = np.ones(n_rows)
        for _ in range(60):  # backtracking line search, per dataset
            candidate = theta - t[:, None] * step
            new_value = objective(candidate)
            poor = new_value > value - 1e-4 * t * decrement + 1e-12 * np.abs(value)
            if not poor.any():
                break
            t[poor] *= 0.5
        theta, value = candidate, new_value
    return theta - theta.mean(axis=1, keepdims=True)


def _to_ratings(theta: np.ndarray, scale: float, base: float, center: float) -> np.ndarray:
    return center + scale * theta / math.log(base)


def bradley_terry(battles: Iterable[Mapping[str, Any]], *, scale: float = 400.0, base: float = 10.0,
                  center: float = 1000.0) -> dict[str, float]:
    """Bradley–Terry ratings on an Elo-like scale (mean ``center``); variants in no battle are absent."""
    tally = _tally(battles)
    if not tally.variants:
        return {}
    wins = tally.counts[:, 0] + tally.counts[:, 2] / 2.0
    theta = _fit_log_strengths(tally.pairs, wins[None], tally.counts.sum(1)[None], len(tally.variants))[0]
    return {name: float(r) for name, r in zip(tally.variants, _to_ratings(theta, scale, base, center), strict=True)}


# ---------------------------------------------------------------------------------------- leaderboard


def _bootstrap(tally: _Tally, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """Log-strengths refitted on ``rounds`` resamples of the battles; nan where a variant drew no battle."""
    k = len(tally.variants)
    n = int(tally.counts.sum())
    cells = tally.counts.ravel() / n
    involved = np.zeros((len(tally.pairs), k))
    involved[np.arange(len(tally.pairs)), tally.pairs[:, 0]] = 1.0
    involved[np.arange(len(tally.pairs)), tally.pairs[:, 1]] = 1.0
    out = []
    for start in range(0, rounds, _CHUNK):
        draws = rng.multinomial(n, cells, size=min(_CHUNK, rounds - start)).reshape(-1, len(tally.pairs), 3)
        wins, totals = draws[..., 0] + draws[..., 2] / 2.0, draws.sum(axis=2).astype(float)
        theta = _fit_log_strengths(tally.pairs, wins, totals, k)
        theta[totals @ involved == 0] = np.nan
        out.append(theta)
    return np.concatenate(out)


def leaderboard(battles: Iterable[Mapping[str, Any]], *, rounds: int = 1000, seed: int = 0,
                confidence: float = 0.95, scale: float = 400.0, base: float = 10.0,
                center: float = 1000.0) -> Leaderboard:
    """Ratings with percentile-bootstrap intervals, CI-aware ranks, head-to-head records and matrices."""
    if int(rounds) != rounds or rounds < MIN_ROUNDS:
        raise ValueError(f"Use at least {MIN_ROUNDS} bootstrap rounds (1000 is usual); {rounds!r} give "
                         "unstable interval ends.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"Confidence must lie strictly between 0 and 1 (for example 0.95), not {confidence!r}.")
    rounds = int(rounds)
    tally = _tally(battles)
    k = len(tally.variants)
    n_battles = int(tally.counts.sum())
    common = {"n_battles": n_battles, "rounds": rounds, "seed": seed, "confidence": confidence,
              "skipped": tally.skipped, "scale": scale, "center": center}
    if k == 0:
        return Leaderboard([], [], [], win_fraction=[], battle_counts=[], **common)

    wins = tally.counts[:, 0] + tally.counts[:, 2] / 2.0
    theta = _fit_log_strengths(tally.pairs, wins[None], tally.counts.sum(1)[None], k)[0]
    point = _to_ratings(theta, scale, base, center)
    samples = _to_ratings(_bootstrap(tally, rounds, np.random.default_rng(seed)), scale, base, center)
    tail = (1.0 - confidence) / 2.0 * 100.0
    lower, upper = np.nanpercentile(samples, [tail, 100.0 - tail], axis=0)

    # Per-variant and per-pair counts, in alphabetical index space.
    decided = np.zeros((k, k))  # decided[i, j]: battles i won against j
    battles_between = np.zeros((k, k), dtype=int)
    for (i, j), (wi, wj, ties) in zip(tally.pairs, tally.counts, strict=True):
        decided[i, j], decided[j, i] = wi, wj
        battles_between[i, j] = battles_between[j, i] = int(wi + wj + ties)
    won, lost = decided.sum(1), decided.sum(0)
    total = battles_between.sum(1)

    order = sorted(range(k), key=lambda i: (-point[i], tally.variants[i]))
    ratings = [
        VariantRating(
            variant=tally.variants[i], rating=float(point[i]), lower=float(lower[i]), upper=float(upper[i]),
            rank=1 + int(np.sum(lower > upper[i])), battles=int(total[i]), wins=int(won[i]), losses=int(lost[i]),
            ties=int(total[i] - won[i] - lost[i]),
        )
        for i in order
    ]
    pairs = []
    for (i, j), (wi, wj, ties) in zip(tally.pairs, tally.counts, strict=True):
        n = int(wi + wj + ties)
        low, high = wilson_interval(wi + ties / 2.0, n, confidence)
        pairs.append(PairRecord(tally.variants[i], tally.variants[j], n, int(wi), int(wj), int(ties),
                                (wi + ties / 2.0) / n, low, high))
    decided_total = decided + decided.T
    win_fraction = [[float(decided[i, j] / decided_total[i, j]) if i != j and decided_total[i, j] else None
                     for j in order] for i in order]
    counts = [[int(battles_between[i, j]) for j in order] for i in order]
    return Leaderboard(ratings, pairs, [tally.variants[i] for i in order], win_fraction=win_fraction,
                       battle_counts=counts, **common)


# ---------------------------------------------------------------------------------------- ratings


@dataclass(frozen=True)
class CriterionScore:
    """Mean score of one variant on one criterion; ``n`` answers, each averaged over its raters."""

    variant: str
    criterion: str
    mean: float
    lower: float
    upper: float
    n: int


@dataclass(frozen=True)
class CriterionAgreement:
    """Krippendorff's alpha (ordinal) for one criterion, over answers that at least two raters scored."""

    criterion: str
    alpha: float
    n_items: int
    n_raters: int


@dataclass
class RatingSummary:
    variants: list[str]
    criteria: list[str]  # criteria with at least one score, in CRITERIA order
    scores: list[CriterionScore]  # variant by variant, criteria in order
    agreement: list[CriterionAgreement]
    n_ratings: int  # rating rows counted (each rater's latest rating of each answer)
    n_raters: int
    confidence: float
    seed: int
    skipped: dict[str, int]

    def score(self, variant: str, criterion: str) -> CriterionScore | None:
        return next((s for s in self.scores if s.variant == variant and s.criterion == criterion), None)

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))


def _valid_score(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            and float(value).is_integer() and 1 <= value <= 5)


def rating_summary(ratings: Iterable[Mapping[str, Any]], *, confidence: float = 0.95, seed: int = 0) -> RatingSummary:
    """Per variant and criterion: mean score with a bootstrap interval over answers; per criterion: alpha.

    An answer is an ``(item_id, variant)``. Rows arrive oldest first; when a rater rated the same
    answer again, only the latest row counts (the earlier ones are counted under ``skipped``).
    """
    latest: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    skipped: Counter[str] = Counter()
    for row in ratings:
        keys = [row.get(name) if isinstance(row, Mapping) else None for name in ("item_id", "variant", "rater_id")]
        if not all(isinstance(key, str) and key for key in keys):
            skipped["missing_item_variant_or_rater"] += 1
            continue
        if not isinstance(row.get("scores"), Mapping):
            skipped["no_scores"] += 1
            continue
        if tuple(keys) in latest:
            skipped["replaced_by_later_rating"] += 1
        latest[tuple(keys)] = row["scores"]

    # by_answer[criterion][(item, variant)][rater] = score
    by_answer: dict[str, dict[tuple[str, str], dict[str, float]]] = {c: {} for c in CRITERIA}
    for (item, variant, rater), scores in latest.items():
        for criterion, value in scores.items():
            if criterion not in by_answer:
                skipped["unknown_criterion"] += 1
            elif not _valid_score(value):
                skipped["score_not_1_to_5"] += 1
            else:
                by_answer[criterion].setdefault((item, variant), {})[rater] = float(value)

    criteria = [c for c in CRITERIA if by_answer[c]]
    variants = sorted({variant for c in criteria for _, variant in by_answer[c]})
    scores_out, agreement = [], []
    for variant in variants:
        for criterion in criteria:
            means = [np.mean(list(r.values())) for (_, v), r in by_answer[criterion].items() if v == variant]
            mean, lower, upper, n = mean_interval(means, confidence, seed=seed)
            scores_out.append(CriterionScore(variant, criterion, mean, lower, upper, n))
    for criterion in criteria:
        answers = sorted(by_answer[criterion])
        raters = sorted({rater for r in by_answer[criterion].values() for rater in r})
        column = {answer: j for j, answer in enumerate(answers)}
        row = {rater: i for i, rater in enumerate(raters)}
        table = np.full((len(raters), len(answers)), np.nan)
        for answer, by_rater in by_answer[criterion].items():
            for rater, value in by_rater.items():
                table[row[rater], column[answer]] = value
        n_items = sum(len(r) >= 2 for r in by_answer[criterion].values())
        agreement.append(CriterionAgreement(criterion, krippendorff_alpha(table, "ordinal"), n_items, len(raters)))
    return RatingSummary(
        variants=variants, criteria=criteria, scores=scores_out, agreement=agreement, n_ratings=len(latest),
        n_raters=len({rater for _, _, rater in latest}), confidence=confidence, seed=seed, skipped=dict(skipped),
    )
