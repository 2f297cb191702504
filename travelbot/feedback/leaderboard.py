"""The leaderboard: Bradley–Terry ratings from arena battles, and a summary of 1–5 ratings.

Scale. Each variant gets a strength ``s`` by (penalised) maximum likelihood, where variant i beats j with
probability ``s_i / (s_i + s_j)``; a tie counts as half a win for each side (as FastChat's
``elo_analysis`` does). Strengths are reported on an Elo-like scale,
``rating = center + scale * log_base(s)`` (400 and 10 by default, so a 400-point gap means 10:1 odds),
shifted so that the mean rating over the variants equals ``center``. Only differences mean anything.

Fitting works on aggregated pair counts (the sufficient statistics) by damped Newton steps, with a
weak Normal prior on each natural-log strength ``theta_i`` (the MAP estimate):
``theta_i ~ Normal(0, 1 / precision_i)``, ``precision_i = RIDGE + PRIOR_PRECISION * (PRIOR_FADE /
(PRIOR_FADE + n_i)) ** 2`` where ``n_i`` is variant i's battle count (``1e-4 + 2 * (20 / (20 + n_i))²``).
Before any battle the prior is worth 8 ties against an average variant (each tie carries curvature
1/4), a standard deviation of about 123 rating points, so one, two or five straight wins move a
variant a few tens to a couple of hundred points, not a thousand. Its pull on a rating fades like
``1 / n_i²`` while the evidence grows like ``n_i``: with hundreds of battles per variant the ratings are
the plain maximum-likelihood ones to well under 0.01 points. The ``RIDGE`` floor (a Normal(0, 100²)
prior) keeps a variant that won every battle finite at any count, and separate groups of variants
that never met each centred on ``center``.

Intervals. Battles are resampled with replacement (one multinomial draw over the cells
pair x outcome, which is the same as resampling rows and much faster), the ratings refitted, and
the percentile interval taken; the interval is widened where needed to cover the prior-and-data
normal approximation (estimate ± z · standard error from the curvature at the estimate), because
a handful of identical votes resamples to the same board every time. (That approximation counts a
tie as a full battle of information, so with many ties it is a little wider than the bootstrap:
about 5% at 10% ties.) Ranks are CI-aware, like Chatbot Arena's "rank (UB)": one plus the number of
variants whose lower bound lies above this variant's upper bound. A variant with fewer than
``min_battles`` battles is *provisional*.

Separating the top two (``Separation``). From the interval of the leader's lead over the runner-up
(bootstrap, widened as above), its standard error ``se = width / (2 z)``; the current evidence is
counted as ``n0 = 1 / (se² p (1 - p))`` head-to-head votes (natural-log scale, ``p`` the win
probability the lead implies) and the interval assumed to shrink as ``1 / sqrt(n)``. The estimate is
the number of further votes between the two after which ``(z + 0.84) · se`` is at most the lead: the
95% interval of the difference then excludes 0 with about 80% probability if the lead is real. When
the two look equal (lead under ``DETECTABLE`` = 50 points) it is sized for a 50-point difference.

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
from scipy.stats import norm

from travelbot.feedback.ratings import RATED
from travelbot.jsonl import json_safe
from travelbot.schema import WINNERS
from travelbot.stats import krippendorff_alpha, mean_interval, wilson_interval

RIDGE = 1e-4  # floor of the prior's precision on natural-log strengths
PRIOR_PRECISION = 2.0  # prior precision added before any battle: 8 virtual ties against an average variant
PRIOR_FADE = 20.0  # battles after which that added precision has fallen to a quarter
MIN_BATTLES = 20  # fewer battles than this: the variant's rating is provisional
DETECTABLE = 50.0  # rating points: the difference votes are sized for when the top two look equal
POWER_Z = 0.8416  # one-sided normal quantile of 80%: the chance the sized votes separate the top two
MIN_ROUNDS = 200
_CHUNK = 2000  # bootstrap rounds fitted together; bounds memory for many variants


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
    provisional: bool = False  # fewer battles than the board's ``min_battles``

    def label(self) -> str:
        """The rating as shown: with its interval, and never alone while provisional."""
        text = f"{self.rating:.0f} [{self.lower:.0f}, {self.upper:.0f}]"
        if not self.provisional:
            return text
        return f"≈{text} · provisional, {self.battles} battle{'' if self.battles == 1 else 's'}"


@dataclass(frozen=True)
class Separation:
    """The lead of the best-rated variant over the runner-up, and about how many more votes between the
    two would make the interval of that lead exclude 0 (80% chance, if the difference is real)."""

    leader: str
    runner_up: str
    difference: float  # leader minus runner-up, rating points
    lower: float  # interval of the difference
    upper: float
    separated: bool  # the interval excludes 0
    votes: int  # more votes between the two; 0 when already separated
    assumed_difference: float  # what the votes are sized for: the lead, or DETECTABLE when they look equal
    explanation: str


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
    superiority: list[list[float | None]] = field(default_factory=list)  # P(row rated above column), bootstrap
    scale: float = 400.0
    center: float = 1000.0
    min_battles: int = MIN_BATTLES
    votes_to_separate_top_two: Separation | None = None  # None with fewer than two variants

    def to_dict(self) -> dict[str, Any]:
        return json_safe(asdict(self))


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


def prior_precision(battles: np.ndarray | float) -> np.ndarray:
    """Precision of the Normal prior on each natural-log strength, from each variant's battle count."""
    return RIDGE + PRIOR_PRECISION * (PRIOR_FADE / (PRIOR_FADE + np.asarray(battles, dtype=float))) ** 2


def _fit_log_strengths(pairs: np.ndarray, wins: np.ndarray, totals: np.ndarray, k: int, prior: bool = True,
                       max_iter: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Bradley–Terry MAP fit for R datasets at once: natural-log strengths, shape (R, k), mean 0, and the
    objective's curvature there, shape (R, k, k) (the inverse covariance of the normal approximation).

    ``wins[r, p]`` is the score of ``pairs[p, 0]`` against ``pairs[p, 1]`` (ties as halves) out of
    ``totals[r, p]`` battles. Each dataset's prior follows its own battle counts; ``prior=False`` keeps
    only the ``RIDGE`` floor. Damped Newton on a strictly convex objective: a few iterations.
    """
    n_rows, n_pairs = wins.shape
    design = np.zeros((n_pairs, k))
    design[np.arange(n_pairs), pairs[:, 0]] = 1.0
    design[np.arange(n_pairs), pairs[:, 1]] = -1.0
    outer = (design[:, :, None] * design[:, None, :]).reshape(n_pairs, k * k)
    losses = totals - wins
    precision = prior_precision(totals @ np.abs(design)) if prior else np.full((n_rows, k), RIDGE)
    diagonal = np.arange(k)

    def objective(theta: np.ndarray) -> np.ndarray:
        d = theta @ design.T
        return ((wins * np.logaddexp(0.0, -d) + losses * np.logaddexp(0.0, d)).sum(1)
                + 0.5 * (precision * theta**2).sum(1))

    def curvature(theta: np.ndarray) -> np.ndarray:
        p = expit(theta @ design.T)
        hessian = ((totals * p * (1.0 - p)) @ outer).reshape(n_rows, k, k)
        hessian[:, diagonal, diagonal] += precision
        return hessian

    theta = np.zeros((n_rows, k))
    value = objective(theta)
    for _ in range(max_iter):
        grad = (totals * expit(theta @ design.T) - wins) @ design + precision * theta
        step = np.linalg.solve(curvature(theta), grad[..., None])[..., 0]
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
    return theta - theta.mean(axis=1, keepdims=True), curvature(theta)


def _to_ratings(theta: np.ndarray, scale: float, base: float, center: float) -> np.ndarray:
    return center + scale * theta / math.log(base)


def bradley_terry(battles: Iterable[Mapping[str, Any]], *, scale: float = 400.0, base: float = 10.0,
                  center: float = 1000.0, prior: bool = True) -> dict[str, float]:
    """Bradley–Terry ratings on an Elo-like scale (mean ``center``); variants in no battle are absent.

    With the weak prior of the module docstring; ``prior=False`` gives the plain maximum-likelihood fit.
    """
    names, theta, _ = fit_strengths(battles, prior=prior)
    return {name: float(r) for name, r in zip(names, _to_ratings(theta, scale, base, center), strict=True)}


def fit_strengths(battles: Iterable[Mapping[str, Any]], *, prior: bool = True
                  ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(variants in alphabetical order, natural-log strengths with mean 0, the fit's curvature there: its
    information matrix, prior included) of the Bradley–Terry fit; empty when no battle counts."""
    tally = _tally(battles)
    if not tally.variants:
        return [], np.zeros(0), np.zeros((0, 0))
    wins = tally.counts[:, 0] + tally.counts[:, 2] / 2.0
    theta, curvature = _fit_log_strengths(tally.pairs, wins[None], tally.counts.sum(1)[None], len(tally.variants), prior)
    return tally.variants, theta[0], curvature[0]


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
        theta = _fit_log_strengths(tally.pairs, wins, totals, k)[0]
        theta[totals @ involved == 0] = np.nan
        out.append(theta)
    return np.concatenate(out)


def _separation(names: list[str], leader: int, runner_up: int, point: np.ndarray, samples: np.ndarray,
                covariance: np.ndarray, confidence: float, to_points: float) -> Separation:
    """The leader's lead with its interval, and the votes that would likely separate the two (module docstring)."""
    z = norm.ppf(0.5 + confidence / 2.0)
    difference = float(point[leader] - point[runner_up])
    spread = z * _contrast_sd(covariance, leader, runner_up) * to_points
    lower, upper = difference - spread, difference + spread
    draws = samples[:, leader] - samples[:, runner_up]
    draws = draws[~np.isnan(draws)]
    if draws.size:
        tail = (1.0 - confidence) / 2.0 * 100.0
        low, high = np.percentile(draws, [tail, 100.0 - tail])
        lower, upper = min(lower, float(low)), max(upper, float(high))

    a, b, level = names[leader], names[runner_up], f"{confidence:.0%}"
    interval = f"{level} interval [{lower:.0f}, {upper:.0f}]"
    separated = lower > 0.0
    looks_equal = not separated and difference < DETECTABLE
    assumed = DETECTABLE if looks_equal else difference
    votes = 0
    if not separated:
        d, se = assumed / to_points, (upper - lower) / (2.0 * z) / to_points
        p = float(expit(d))
        votes = max(1, math.ceil((((z + POWER_Z) / d) ** 2 - 1.0 / se**2) / (p * (1.0 - p))))
    if separated:
        explanation = (f"{a} leads {b} by {difference:.0f} points ({interval}, which excludes 0): the top two are "
                       "told apart.")
    elif looks_equal:
        explanation = (f"{a} and {b} look equal so far ({a} ahead by {difference:.0f} points, {interval}); about "
                       f"{votes:,} more votes between them would tell them apart if one is really "
                       f"{DETECTABLE:.0f} points better (80% chance).")
    else:
        explanation = (f"{a} leads {b} by {difference:.0f} points ({interval}, which includes 0); about {votes:,} "
                       f"more votes between them would tell them apart if that lead is real (80% chance).")
    return Separation(a, b, difference, float(lower), float(upper), bool(separated), votes, assumed, explanation)


def leaderboard(battles: Iterable[Mapping[str, Any]], *, rounds: int = 1000, seed: int = 0,
                confidence: float = 0.95, scale: float = 400.0, base: float = 10.0,
                center: float = 1000.0, min_battles: int = MIN_BATTLES) -> Leaderboard:
    """Ratings with intervals, CI-aware ranks, provisional marks, the gap between the top two, head-to-head
    records and matrices."""
    if int(rounds) != rounds or rounds < MIN_ROUNDS:
        raise ValueError(f"Use at least {MIN_ROUNDS} bootstrap rounds (1000 is usual); {rounds!r} give "
                         "unstable interval ends.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"Confidence must lie strictly between 0 and 1 (for example 0.95), not {confidence!r}.")
    if int(min_battles) != min_battles or min_battles < 0:
        raise ValueError(f"The minimum number of battles must be a whole number, 0 or more, not {min_battles!r}.")
    rounds, min_battles = int(rounds), int(min_battles)
    tally = _tally(battles)
    k = len(tally.variants)
    n_battles = int(tally.counts.sum())
    common = {"n_battles": n_battles, "rounds": rounds, "seed": seed, "confidence": confidence,
              "skipped": tally.skipped, "scale": scale, "center": center, "min_battles": min_battles}
    if k == 0:
        return Leaderboard([], [], [], win_fraction=[], battle_counts=[], **common)

    wins = tally.counts[:, 0] + tally.counts[:, 2] / 2.0
    theta, curvature = _fit_log_strengths(tally.pairs, wins[None], tally.counts.sum(1)[None], k)
    point = _to_ratings(theta[0], scale, base, center)
    samples = _to_ratings(_bootstrap(tally, rounds, np.random.default_rng(seed)), scale, base, center)
    tail = (1.0 - confidence) / 2.0 * 100.0
    lower, upper = np.nanpercentile(samples, [tail, 100.0 - tail], axis=0)
    # Never narrower than the normal approximation: a few identical votes resample to a single board.
    to_points = scale / math.log(base)
    covariance = np.linalg.inv(curvature[0])
    centring = np.eye(k) - 1.0 / k
    spread = norm.ppf(0.5 + confidence / 2.0) * np.sqrt(np.diag(centring @ covariance @ centring)) * to_points
    lower, upper = np.fmin(lower, point - spread), np.fmax(upper, point + spread)

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
            ties=int(total[i] - won[i] - lost[i]), provisional=bool(total[i] < min_battles),
        )
        for i in order
    ]
    separation = (_separation(tally.variants, order[0], order[1], point, samples, covariance, confidence, to_points)
                  if k >= 2 else None)
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
    superiority = [[_above(samples[:, i], samples[:, j], point[i] - point[j],
                           _contrast_sd(covariance, i, j) * to_points) if i != j else None for j in order] for i in order]
    return Leaderboard(ratings, pairs, [tally.variants[i] for i in order], win_fraction=win_fraction,
                       battle_counts=counts, superiority=superiority, votes_to_separate_top_two=separation, **common)


def _contrast_sd(covariance: np.ndarray, i: int, j: int) -> float:
    contrast = np.zeros(len(covariance))
    contrast[i], contrast[j] = 1.0, -1.0
    return math.sqrt(max(float(contrast @ covariance @ contrast), 0.0))


def _above(a: np.ndarray, b: np.ndarray, difference: float, sd: float) -> float | None:
    """The probability that ``a`` is rated above ``b``: the share of bootstrap boards that say so (a tie counts
    half), or the normal approximation's, whichever is less sure — as for the intervals, a few identical
    votes resample to a single board. None if the two were never both rated."""
    both = ~(np.isnan(a) | np.isnan(b))
    if not both.any():
        return None
    boot = float(np.mean((a[both] > b[both]) + 0.5 * (a[both] == b[both])))
    normal = float(norm.cdf(difference / sd)) if sd > 0 else boot
    return boot if abs(boot - 0.5) <= abs(normal - 0.5) else normal


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
    criteria: list[str]  # criteria with at least one score, in RATED order
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
        return json_safe(asdict(self))


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
    by_answer: dict[str, dict[tuple[str, str], dict[str, float]]] = {c: {} for c in RATED}
    for (item, variant, rater), scores in latest.items():
        for criterion, value in scores.items():
            if criterion not in by_answer:
                skipped["unknown_criterion"] += 1
            elif not _valid_score(value):
                skipped["score_not_1_to_5"] += 1
            else:
                by_answer[criterion].setdefault((item, variant), {})[rater] = float(value)

    criteria = [c for c in RATED if by_answer[c]]
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
