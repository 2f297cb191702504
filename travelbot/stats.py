"""Interval statistics and inter-rater agreement, as pure functions that return plain floats.

Shared by the leaderboard, the rating summary and (later) the metric-vs-human agreement analysis.
A value is ``nan`` only where it is truly undefined (no data, fewer than two values for an interval,
nothing that two raters both rated); each function says when.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import krippendorff
import numpy as np
from scipy import stats

NAN = float("nan")
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


def bootstrap_interval(
    statistic: Callable[..., Any], *data: Sequence[Any] | np.ndarray,
    rounds: int = 1000, seed: int = 0, confidence: float = 0.95,
) -> tuple[float, float, float]:
    """``(estimate, lower, upper)`` of ``statistic(*data)`` by the percentile bootstrap.

    Rows are resampled jointly: round r calls ``statistic(*(a[idx] for a in data))`` with one shared
    index array, so paired values (a metric score and a human rating of the same answer) stay paired.
    Rounds where the statistic is undefined (``nan``, e.g. a correlation of a constant resample) are
    left out of the percentiles; the interval is ``nan`` when fewer than two rows are given or no
    round is defined.
    """
    _check_confidence(confidence)
    _check_rounds(rounds)
    if not data:
        raise ValueError("Give the statistic at least one data array to resample.")
    arrays = [np.asarray(a) for a in data]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"All data arrays must have the same number of rows, got {[len(a) for a in arrays]}.")
    estimate = float(statistic(*arrays)) if n else NAN
    if n < 2:
        return estimate, NAN, NAN
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, n, size=(int(rounds), n))
    samples = np.array([float(statistic(*(a[idx] for a in arrays))) for idx in indices])
    if not np.isfinite(samples).any():
        return estimate, NAN, NAN
    lower, upper = _percentiles(samples[np.isfinite(samples)], confidence)
    return estimate, float(lower), float(upper)


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
