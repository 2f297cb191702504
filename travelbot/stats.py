"""Interval statistics and inter-rater agreement, as pure functions that return plain floats.

Shared by the leaderboard, the rating summary and the metric-vs-human agreement analysis. The weighted
bootstrap below is vectorised: a resample is a row of item multiplicities and a statistic is written for
weighted items, so 1000 rounds over 1000 items take milliseconds.
A value is ``nan`` only where it is truly undefined (no data, fewer than two values for an interval,
nothing that two raters both rated); each function says when.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import krippendorff
import numpy as np
from scipy import stats

NAN = float("nan")
_CELLS = 2_000_000  # most weight-matrix entries handled at once by the weighted bootstrap
LEVELS = ("nominal", "ordinal", "interval", "ratio")


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"Confidence must lie strictly between 0 and 1 (for example 0.95), not {confidence!r}.")


def _check_rounds(rounds: int) -> None:
    if int(rounds) != rounds or rounds < 1:
        raise ValueError(f"Bootstrap rounds must be a positive whole number (for example 1000), not {rounds!r}.")


def _percentiles(samples: np.ndarray, confidence: float, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Percentile-interval ends of bootstrap samples, ignoring rounds where the statistic was undefined."""
    tail = (1.0 - confidence) / 2.0 * 100.0
    with np.errstate(all="ignore"):
        lower, upper = np.nanpercentile(samples, [tail, 100.0 - tail], axis=axis)
    return lower, upper


def wilson_interval(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``successes / n`` (no continuity correction).

    ``successes`` may be fractional (a tie counts as half a win); the interval then treats the
    share as if it came from ``n`` Bernoulli trials. ``n == 0`` gives ``(nan, nan)``.
    """
    _check_confidence(confidence)
    if n < 0 or not 0.0 <= successes <= n:
        raise ValueError(f"Need 0 <= successes <= n, got successes={successes!r} and n={n!r}.")
    if n == 0:
        return NAN, NAN
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    p = successes / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2.0 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(
    values: Sequence[float] | np.ndarray, confidence: float = 0.95, *, rounds: int = 1000, seed: int = 0,
) -> tuple[float, float, float, int]:
    """Mean of ``values`` with a percentile-bootstrap interval: ``(mean, lower, upper, n)``.

    The percentile bootstrap is used (not a t interval) because ratings are bounded, skewed 1..5
    scores: its ends always stay inside the observed range. With very few values (n < ~10) it is
    somewhat narrower than its nominal level. ``nan`` values are ignored as missing; n == 0 gives a
    ``nan`` mean, and n < 2 a ``nan`` interval.
    """
    _check_confidence(confidence)
    _check_rounds(rounds)
    data = np.asarray(values, dtype=float).ravel()
    data = data[~np.isnan(data)]
    n = int(data.size)
    if n == 0:
        return NAN, NAN, NAN, 0
    mean = float(data.mean())
    if n < 2:
        return mean, NAN, NAN, n
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, n, size=(int(rounds), n))].mean(axis=1)
    lower, upper = _percentiles(means, confidence)
    return mean, float(lower), float(upper), n


def krippendorff_alpha(table: Sequence[Sequence[float]] | np.ndarray, level: str = "ordinal") -> float:
    """Krippendorff's alpha of a rater x item matrix (``nan`` where a rater did not rate an item).

    Only items rated by at least two raters carry information. Returns ``nan`` (never raises) when
    no item has two ratings, or when all those ratings are the same value (expected disagreement is
    zero, so alpha is undefined).
    """
    if level not in LEVELS:
        raise ValueError(f"Level of measurement must be one of {', '.join(LEVELS)}, not {level!r}.")
    data = np.asarray(table, dtype=float)
    if data.ndim != 2:
        raise ValueError(f"Give a rater x item matrix (two dimensions), not an array of shape {data.shape}.")
    pairable = data[:, np.sum(~np.isnan(data), axis=0) >= 2]
    values = pairable[~np.isnan(pairable)]
    if values.size == 0 or np.unique(values).size < 2:
        return NAN
    with np.errstate(all="ignore"):
        return float(krippendorff.alpha(reliability_data=pairable, level_of_measurement=level))


# ---------------------------------------------------------------------------------------- weighted bootstrap

def _chunks(n: int, rows: int) -> Iterator[tuple[int, int]]:
    step = max(1, _CELLS // max(n, 1))
    for start in range(0, rows, step):
        yield start, min(rows, start + step)


def bootstrap_weights(n: int, rounds: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap resamples of n items as (rows, n) multiplicities: how often each item was drawn."""
    rng = np.random.default_rng(seed)
    for start, stop in _chunks(n, rounds):
        rows = stop - start
        drawn = rng.integers(0, n, size=(rows, n)) + n * np.arange(rows)[:, None]
        yield np.bincount(drawn.ravel(), minlength=rows * n).reshape(rows, n).astype(float)


def leave_one_out_weights(n: int) -> Iterator[np.ndarray]:
    """Jackknife weights: row i leaves item i out."""
    for start, stop in _chunks(n, n):
        weights = np.ones((stop - start, n))
        weights[np.arange(stop - start), np.arange(start, stop)] = 0.0
        yield weights


def over_weights(statistic: Callable[[np.ndarray], np.ndarray], weights: Iterator[np.ndarray]) -> np.ndarray:
    """``statistic(weights) -> (rows, k)`` over every block of weight rows, stacked."""
    with np.errstate(all="ignore"):
        return np.concatenate([np.asarray(statistic(w), dtype=float).reshape(len(w), -1) for w in weights])


def bca_ends(estimate: float, boot: np.ndarray, jack: np.ndarray, confidence: float) -> tuple[float, float]:
    """BCa interval ends from bootstrap and jackknife values of one statistic (undefined rounds dropped)."""
    boot, jack = boot[np.isfinite(boot)], jack[np.isfinite(jack)]
    if not math.isfinite(estimate) or boot.size < 2:
        return NAN, NAN
    # Share of rounds below the estimate, ties counted half (statistics of labels are discrete).
    same = np.isclose(boot, estimate, rtol=1e-9, atol=1e-12)
    below = (np.sum((boot < estimate) & ~same) + 0.5 * np.sum(same)) / boot.size
    bias = stats.norm.ppf(np.clip(below, 0.5 / boot.size, 1.0 - 0.5 / boot.size))
    spread = jack.mean() - jack if jack.size else np.zeros(1)
    scale = 6.0 * np.sum(spread**2) ** 1.5
    acceleration = np.sum(spread**3) / scale if scale > 0 else 0.0
    z = stats.norm.ppf([(1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0])
    shrink = 1.0 - acceleration * (bias + z)
    levels = stats.norm.cdf(bias + (bias + z) / shrink) if np.all(shrink > 0) else stats.norm.cdf(z)
    lower, upper = np.percentile(boot, 100.0 * levels)
    return float(lower), float(upper)


def interval_ends(statistic: Callable[[np.ndarray], np.ndarray], estimates: Sequence[float], n: int, *,
               rounds: int, seed: int, confidence: float, method: str = "bca",
               jackknife: np.ndarray | None = None) -> list[tuple[float, float]]:
    """Interval ends for each output column of ``statistic(weights) -> (rows, k)``, resampling n items."""
    _check_confidence(confidence)
    _check_rounds(rounds)
    if n < 2:
        return [(NAN, NAN)] * len(estimates)
    boot = over_weights(statistic, bootstrap_weights(n, int(rounds), seed))
    if method == "percentile":
        tail = 50.0 * (1.0 - confidence)
        ends = []
        for column in boot.T:
            column = column[np.isfinite(column)]
            ends.append(tuple(np.percentile(column, [tail, 100.0 - tail])) if column.size else (NAN, NAN))
        return [(float(lo), float(hi)) for lo, hi in ends]
    jack = over_weights(statistic, leave_one_out_weights(n)) if jackknife is None else jackknife.reshape(n, -1)
    return [bca_ends(float(e), boot[:, k], jack[:, k], confidence) for k, e in enumerate(estimates)]


def ppi_mean(labelled: Sequence[float] | np.ndarray, predicted_labelled: Sequence[float] | np.ndarray,
             predicted_unlabelled: Sequence[float] | np.ndarray, confidence: float = 0.95, *,
             tune: bool = True) -> dict[str, float]:
    """Prediction-powered inference for a mean (Angelopoulos et al., Science 2023; power-tuned as in PPI++,
    Angelopoulos, Duchi and Zrnic 2023): people's labels ``labelled`` on n items, a predictor's (an LLM
    judge's) labels on the same n items and on N items nobody labelled.

        estimate = mean(labelled) + lambda * (mean(predicted_unlabelled) - mean(predicted_labelled))

    With ``lambda = 1`` this is PPI: the judge's mean over everything, corrected by its error where people
    labelled. ``tune`` picks the lambda that minimises the variance (0 ignores the judge, so the interval
    is never much wider than the classical one, and a judge on another scale is rescaled). The interval
    is the normal one (a CLT interval, valid for large n and N); ``effective_n`` is how many labelled
    items the classical interval would need to be as narrow. Returns ``nan`` figures with n < 2.
    """
    _check_confidence(confidence)
    y = np.asarray(labelled, dtype=float).ravel()
    f = np.asarray(predicted_labelled, dtype=float).ravel()
    g = np.asarray(predicted_unlabelled, dtype=float).ravel()
    if y.size != f.size:
        raise ValueError(f"Need a prediction for every labelled item ({y.size} labels, {f.size} predictions).")
    keep = ~(np.isnan(y) | np.isnan(f))
    y, f, g = y[keep], f[keep], g[~np.isnan(g)]
    n, big_n = int(y.size), int(g.size)
    empty = {"estimate": NAN, "lower": NAN, "upper": NAN, "n": n, "N": big_n, "lambda": NAN,
             "classical": NAN, "classical_lower": NAN, "classical_upper": NAN, "effective_n": NAN}
    if n < 2:
        return empty
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    classical_se = float(y.std(ddof=1)) / math.sqrt(n)
    if big_n < 2:
        lam = 0.0
    elif tune:
        variance_f = float(f.var(ddof=1)) / n + float(g.var(ddof=1)) / big_n
        covariance = float(np.cov(y, f, ddof=1)[0, 1]) / n
        lam = float(np.clip(covariance / variance_f, 0.0, 1.0)) if variance_f > 0 else 0.0
    else:
        lam = 1.0
    estimate = float(y.mean() + lam * ((g.mean() if big_n else 0.0) - f.mean()))
    rectifier = y - lam * f
    variance = float(rectifier.var(ddof=1)) / n + (lam * lam * float(g.var(ddof=1)) / big_n if big_n >= 2 else 0.0)
    se = math.sqrt(max(variance, 0.0))
    return {"estimate": estimate, "lower": estimate - z * se, "upper": estimate + z * se, "n": n, "N": big_n,
            "lambda": lam, "classical": float(y.mean()), "classical_lower": float(y.mean()) - z * classical_se,
            "classical_upper": float(y.mean()) + z * classical_se,
            "effective_n": float(n * (classical_se / se) ** 2) if se > 0 else NAN}
