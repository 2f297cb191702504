"""Metric-versus-human agreement: does an automatic metric (or a judge) say what people say?

Pure functions over plain labels and scores. Pairwise labels are "A", "B" and "tie"; ``None`` marks a
missing label, and an item with one is left out of that figure (and counted). Every figure is an
:class:`Estimate` with its n and a 95% interval over ITEMS, chosen by simulated coverage (see
``tests/analysis/test_agreement.py``, which checks that the intervals hold the truth 93-97% of the time):

- shares of items (accuracy, accuracy without ties, position consistency, length preference): Wilson;
- kappa, macro precision/recall/F1, correlations, leave-one-out human agreement, Fleiss' kappa and
  Krippendorff's alpha: BCa bootstrap (bias-corrected and accelerated, Efron 1987), resampling items
  with a seeded generator;
- rank correlation of systems: percentile bootstrap over items (few systems make it too coarse for BCa).

The bootstrap is vectorised: a resample is a row of item multiplicities, and each statistic is written
for weighted items, so 1000 rounds on 1000 items take milliseconds (Kendall's tau: O(rounds·n²)).
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps
from sklearn.metrics import cohen_kappa_score, precision_recall_fscore_support

from travelbot.stats import (
    interval_ends, krippendorff_alpha, leave_one_out_weights, over_weights, wilson_interval,
)

LABELS = ("A", "B", "tie")
_CODE = {label: code for code, label in enumerate(LABELS)}
NAN = float("nan")


def _clean(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


@dataclass(frozen=True)
class Estimate:
    """A figure with its interval and the number of units it rests on.

    ``value`` is ``nan`` only where the figure is undefined: no units, or a statistic with no meaning on
    the data (kappa when both sides used a single label, a correlation of a constant). ``lower`` and
    ``upper`` are also ``nan`` with fewer than two units, or when no resample gave a defined value.
    """

    value: float
    lower: float
    upper: float
    n: int
    method: str = "bootstrap BCa"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: ``nan`` becomes ``None``."""
        return {"value": _clean(self.value), "lower": _clean(self.lower), "upper": _clean(self.upper),
                "n": self.n, "method": self.method}


def _undefined(n: int = 0, method: str = "bootstrap BCa") -> Estimate:
    return Estimate(NAN, NAN, NAN, n, method)


def _share(successes: int, n: int, confidence: float) -> Estimate:
    if n == 0:
        return _undefined(0, "Wilson")
    lower, upper = wilson_interval(successes, n, confidence)
    return Estimate(successes / n, lower, upper, n, "Wilson")


# ---------------------------------------------------------------------------------------- labels


def _code(label: Any) -> int:
    if label is None:
        return -1
    if label not in _CODE:
        raise ValueError(f"Labels must be 'A', 'B', 'tie' or None (missing), not {label!r}.")
    return _CODE[label]


def _codes(labels: Sequence[str | None]) -> np.ndarray:
    return np.array([_code(label) for label in labels], dtype=int)


def _same_length(*sequences: Sequence[Any]) -> None:
    if len({len(s) for s in sequences}) > 1:
        raise ValueError(f"Give one value per item on every side; got lengths {[len(s) for s in sequences]}.")


def majority(labels: Sequence[str | None]) -> str | None:
    """The label given by more annotators than any other; a tie between labels gives "tie".

    Missing labels (``None``) are ignored, so no labels at all gives ``None``. ["A", "A", "B"] -> "A";
    ["A", "B"] -> "tie"; ["A", "B", "tie"] -> "tie".
    """
    counts = Counter(label for label in labels if _code(label) >= 0).most_common()
    if not counts:
        return None
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return "tie"
    return counts[0][0]


def label_from_scores(score_a: float | None, score_b: float | None, margin: float = 0.0) -> str | None:
    """A metric's verdict from its two scores: "A" if A wins by more than ``margin``, "B" likewise, else "tie".

    ``None`` (or ``nan``) on either side gives ``None``: the metric could not score the pair.
    """
    if margin < 0:
        raise ValueError(f"The tie margin must be zero or positive, not {margin!r}.")
    if score_a is None or score_b is None or math.isnan(score_a) or math.isnan(score_b):
        return None
    difference = score_a - score_b
    return "A" if difference > margin else "B" if difference < -margin else "tie"


# ---------------------------------------------------------------------------------------- pairwise judgments


@dataclass(frozen=True)
class PairwiseAgreement:
    """A metric's (or judge's) verdicts against the humans' on the same pairs."""

    accuracy: Estimate  # share of items with the same label, ties included (Wilson)
    accuracy_without_ties: Estimate  # the same over items where neither side said tie, as MT-Bench (Wilson)
    kappa: Estimate  # Cohen's kappa over the three labels
    precision: Estimate  # macro-averaged over the labels present on either side, as sklearn and PandaLM
    recall: Estimate
    f1: Estimate
    confusion: tuple[tuple[int, ...], ...]  # rows: human A/B/tie; columns: metric A/B/tie
    n: int  # items with a label on both sides
    left_out: int  # items with a missing label on either side

    def to_dict(self) -> dict[str, Any]:
        figures = {name: getattr(self, name).to_dict()
                   for name in ("accuracy", "accuracy_without_ties", "kappa", "precision", "recall", "f1")}
        return {**figures, "labels": list(LABELS), "confusion": [list(row) for row in self.confusion],
                "n": self.n, "left_out": self.left_out}


def _confusion_figures(cells: np.ndarray) -> np.ndarray:
    """Kappa and macro precision, recall, F1 of each (rows, 9) flattened confusion matrix -> (rows, 4)."""
    matrix = cells.reshape(-1, 3, 3)
    total = matrix.sum(axis=(1, 2))
    hits = np.diagonal(matrix, axis1=1, axis2=2)
    human, metric = matrix.sum(axis=2), matrix.sum(axis=1)
    observed = hits.sum(axis=1) / total
    expected = (human * metric).sum(axis=1) / total**2
    kappa = np.where(np.isclose(expected, 1.0), np.nan, (observed - expected) / (1.0 - expected))
    present = (human + metric) > 0  # sklearn's average="macro" runs over labels seen on either side
    precision = np.where(metric > 0, hits / np.where(metric > 0, metric, 1), 0.0)  # 0/0 counts as 0 (PandaLM)
    recall = np.where(human > 0, hits / np.where(human > 0, human, 1), 0.0)
    f1 = np.where(present, 2 * hits / np.where(present, human + metric, 1), 0.0)
    labels = present.sum(axis=1)
    macro = [np.where(labels > 0, (v * present).sum(axis=1) / np.maximum(labels, 1), np.nan)
             for v in (precision, recall, f1)]
    return np.column_stack([kappa, *macro])


def pairwise_agreement(human: Sequence[str | None], metric: Sequence[str | None], *, rounds: int = 1000,
                       seed: int = 0, confidence: float = 0.95) -> PairwiseAgreement:
    """Agreement of a metric's pairwise verdicts with the humans' (one label per item on each side).

    Accuracy and kappa count ties as a third label; precision, recall and F1 are macro averages as
    sklearn's ``average="macro"`` (0 for a label never predicted), which reproduces PandaLM's figures.
    """
    _same_length(human, metric)
    h, m = _codes(human), _codes(metric)
    keep = (h >= 0) & (m >= 0)
    h, m = h[keep], m[keep]
    n = int(h.size)
    confusion = np.zeros((3, 3), dtype=int)
    np.add.at(confusion, (h, m), 1)
    decisive = confusion[:2, :2]
    accuracy = _share(int(np.trace(confusion)), n, confidence)
    without_ties = _share(int(np.trace(decisive)), int(decisive.sum()), confidence)
    if n == 0:
        others = [_undefined()] * 4
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # kappa is undefined (nan) when both sides used one label
            kappa = float(cohen_kappa_score(h, m, labels=[0, 1, 2]))
            precision, recall, f1, _ = precision_recall_fscore_support(h, m, average="macro", zero_division=0.0)
        values = [kappa, float(precision), float(recall), float(f1)]
        features = np.eye(9)[3 * h + m]
        ends = interval_ends(lambda w: _confusion_figures(w @ features), values, n,
                          rounds=rounds, seed=seed, confidence=confidence)
        others = [Estimate(v, lo, hi, n) for v, (lo, hi) in zip(values, ends, strict=True)]
    return PairwiseAgreement(accuracy, without_ties, *others, tuple(tuple(int(c) for c in row) for row in confusion),
                             n, int((~keep).sum()))


def position_consistency(first_order: Sequence[str | None], second_order_mapped_back: Sequence[str | None], *,
                         confidence: float = 0.95) -> Estimate:
    """Share of items where a judge gave the same verdict with the answers in both orders (Wilson interval).

    The second verdicts must already be mapped back to the first order ("A" in the swapped run -> "B").
    Items with a missing verdict in either order are left out.
    """
    _same_length(first_order, second_order_mapped_back)
    first, second = _codes(first_order), _codes(second_order_mapped_back)
    keep = (first >= 0) & (second >= 0)
    return _share(int(np.sum(first[keep] == second[keep])), int(keep.sum()), confidence)


def length_preference(labels: Sequence[str | None], len_a: Sequence[float | None], len_b: Sequence[float | None],
                      *, confidence: float = 0.95) -> Estimate:
    """Among items the judge decided (A or B) whose answers differ in length, the share where it chose the longer.

    0.5 means no length bias. Wilson interval; items with a tie, a missing label or a missing length are left out.
    """
    _same_length(labels, len_a, len_b)
    longer = chosen = 0
    for label, a, b in zip(labels, len_a, len_b, strict=True):
        if _code(label) in (0, 1) and a is not None and b is not None and a != b:
            chosen += 1
            longer += (label == "A") == (a > b)
    return _share(longer, chosen, confidence)


# ---------------------------------------------------------------------------------------- scores


def _groups(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group index of each item by equal value, the items in group order, and where each group starts."""
    inverse = np.unique(values, return_inverse=True)[1].ravel()
    order = np.argsort(inverse, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(inverse[order]) != 0])
    return inverse, order, starts


def _group_totals(weights: np.ndarray, groups: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    _, order, starts = groups
    return np.add.reduceat(weights[:, order], starts, axis=1)


def _weighted_pearson(weights: np.ndarray, x: np.ndarray, y: np.ndarray, constant: np.ndarray) -> np.ndarray:
    total = weights.sum(axis=1, keepdims=True)
    dx = x - (weights * x).sum(axis=1, keepdims=True) / total
    dy = y - (weights * y).sum(axis=1, keepdims=True) / total
    r = (weights * dx * dy).sum(axis=1) / np.sqrt((weights * dx * dx).sum(axis=1) * (weights * dy * dy).sum(axis=1))
    return np.where(constant, np.nan, np.clip(r, -1.0, 1.0))


def _weighted_ranks(totals: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    """Average rank (from 1) of every item inside each weighted resample, ties sharing their mean rank."""
    return (np.cumsum(totals, axis=1) - totals + (totals + 1.0) / 2.0)[:, inverse]


def _correlations(x: np.ndarray, y: np.ndarray, kendall: bool = True) -> Callable[[np.ndarray], np.ndarray]:
    """``weights -> (rows, 3)``: Spearman, Kendall tau-b and Pearson of the weighted items.

    Each equals scipy's value on the resample written out item by item (a resample is its multiplicities).
    """
    gx, gy = _groups(x), _groups(y)
    cx, cy = x - x.mean(), y - y.mean()
    concordance = np.sign(x[:, None] - x[None, :]) * np.sign(y[:, None] - y[None, :]) if kendall else None

    def statistic(weights: np.ndarray) -> np.ndarray:
        tx, ty, total = _group_totals(weights, gx), _group_totals(weights, gy), weights.sum(axis=1)
        constant = (tx.max(axis=1) == total) | (ty.max(axis=1) == total)
        spearman = _weighted_pearson(weights, _weighted_ranks(tx, gx[0]), _weighted_ranks(ty, gy[0]), constant)
        pearson = _weighted_pearson(weights, cx, cy, constant)
        if concordance is None:
            return np.column_stack([spearman, np.full_like(spearman, np.nan), pearson])
        score = 0.5 * np.einsum("ri,ri->r", weights @ concordance, weights)
        pairs = total * (total - 1.0) / 2.0
        untied_x = pairs - (tx * (tx - 1.0) / 2.0).sum(axis=1)
        untied_y = pairs - (ty * (ty - 1.0) / 2.0).sum(axis=1)
        tau = np.where((untied_x > 0) & (untied_y > 0), score / np.sqrt(untied_x * untied_y), np.nan)
        return np.column_stack([spearman, tau, pearson])

    return statistic


def _kendall_jackknife(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Tau-b with each item left out in turn, O(n²) from the pair table instead of n full recomputations."""
    n = x.size
    concordance = np.sign(x[:, None] - x[None, :]) * np.sign(y[:, None] - y[None, :])
    score = concordance.sum() / 2.0 - concordance.sum(axis=1)
    pairs = (n - 1.0) * (n - 2.0) / 2.0
    tied_x = (x[:, None] == x[None, :]).sum(axis=1) - 1.0  # other items tied with item i
    tied_y = (y[:, None] == y[None, :]).sum(axis=1) - 1.0
    untied_x = pairs - ((x[:, None] == x[None, :]).sum() - n) / 2.0 + tied_x
    untied_y = pairs - ((y[:, None] == y[None, :]).sum() - n) / 2.0 + tied_y
    with np.errstate(all="ignore"):
        return np.where((untied_x > 0) & (untied_y > 0), score / np.sqrt(untied_x * untied_y), np.nan)


def correlations(metric_scores: Sequence[float | None], human_scores: Sequence[float | None], *,
                 rounds: int = 1000, seed: int = 0, confidence: float = 0.95) -> dict[str, Estimate]:
    """Spearman, Kendall (tau-b) and Pearson correlation of metric scores with human scores, item by item.

    Values from ``scipy.stats``; BCa bootstrap intervals over items. Pairs with ``None`` (or ``nan``)
    on either side are left out; n counts the pairs used.
    """
    _same_length(metric_scores, human_scores)
    pairs = [(float(a), float(b)) for a, b in zip(metric_scores, human_scores, strict=True)
             if a is not None and b is not None and not (math.isnan(a) or math.isnan(b))]
    x, y = (np.array(side, dtype=float) for side in zip(*pairs, strict=True)) if pairs else (np.empty(0),) * 2
    n = int(x.size)
    kinds = ("spearman", "kendall", "pearson")
    if n < 2:
        return {kind: _undefined(n) for kind in kinds}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant side: the correlation is undefined (nan)
        values = [float(sps.spearmanr(x, y)[0]), float(sps.kendalltau(x, y)[0]), float(sps.pearsonr(x, y)[0])]
    jackknife = over_weights(_correlations(x, y, kendall=False), leave_one_out_weights(n))
    jackknife[:, 1] = _kendall_jackknife(x, y)
    ends = interval_ends(_correlations(x, y), values, n, rounds=rounds, seed=seed, confidence=confidence,
                      jackknife=jackknife)
    return {kind: Estimate(v, lo, hi, n) for kind, v, (lo, hi) in zip(kinds, values, ends, strict=True)}


@dataclass(frozen=True)
class SystemAgreement:
    """Do the metric and the humans put the systems (variants) in the same order by their mean scores?"""

    spearman: Estimate  # n = number of systems
    kendall: Estimate
    systems: int
    items: int  # items resampled: those with a score for some system on either side

    def to_dict(self) -> dict[str, Any]:
        return {"spearman": self.spearman.to_dict(), "kendall": self.kendall.to_dict(),
                "systems": self.systems, "items": self.items}


def _rank_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman and Kendall tau-b across the columns (systems) of each row: (rows, systems) x2 -> (rows, 2)."""
    defined = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
    a, b = np.where(defined[:, None], a, 0.0), np.where(defined[:, None], b, 0.0)
    ra, rb = sps.rankdata(a, axis=1), sps.rankdata(b, axis=1)
    constant = (ra.min(axis=1) == ra.max(axis=1)) | (rb.min(axis=1) == rb.max(axis=1))
    spearman = _weighted_pearson(np.ones_like(ra), ra, rb, constant)
    sa, sb = np.sign(a[:, :, None] - a[:, None, :]), np.sign(b[:, :, None] - b[:, None, :])
    untied_a, untied_b = np.abs(sa).sum(axis=(1, 2)) / 2.0, np.abs(sb).sum(axis=(1, 2)) / 2.0
    kendall = np.where(constant, np.nan, (sa * sb).sum(axis=(1, 2)) / 2.0 / np.sqrt(untied_a * untied_b))
    return np.column_stack([np.where(defined, spearman, np.nan), np.where(defined, kendall, np.nan)])


def system_agreement(metric_by_item: Mapping[Hashable, Mapping[Hashable, float | None]],
                     human_by_item: Mapping[Hashable, Mapping[Hashable, float | None]], *,
                     rounds: int = 1000, seed: int = 0, confidence: float = 0.95) -> SystemAgreement:
    """Rank correlation between the systems' order by mean metric score and by mean human score.

    Systems present on both sides are compared; each mean runs over the items that system has a
    (non-``None``) score for. The bootstrap resamples items, the same items for every system, and uses
    percentile intervals. Fewer than two systems (or a constant side) give ``nan``.
    """
    systems = [s for s in metric_by_item if s in human_by_item]
    items = list(dict.fromkeys(i for side in (metric_by_item, human_by_item) for s in systems for i in side[s]))
    index = {item: k for k, item in enumerate(items)}

    def table(side: Mapping[Hashable, Mapping[Hashable, float | None]]) -> tuple[np.ndarray, np.ndarray]:
        values, present = np.zeros((len(items), len(systems))), np.zeros((len(items), len(systems)))
        for column, system in enumerate(systems):
            for item, score in side[system].items():
                if score is not None and not math.isnan(score):
                    values[index[item], column], present[index[item], column] = float(score), 1.0
        return values, present

    (mv, mp), (hv, hp) = table(metric_by_item), table(human_by_item)
    scored = (mp.sum(axis=1) + hp.sum(axis=1)) > 0  # an item with no score anywhere is no item
    mv, mp, hv, hp = mv[scored], mp[scored], hv[scored], hp[scored]

    def statistic(weights: np.ndarray) -> np.ndarray:
        return _rank_correlations((weights @ mv) / (weights @ mp), (weights @ hv) / (weights @ hp))

    with np.errstate(all="ignore"):
        spearman, kendall = _rank_correlations(*(np.sum(v, 0, keepdims=True) / np.sum(p, 0, keepdims=True)
                                                 for v, p in ((mv, mp), (hv, hp))))[0]
    if len(systems) < 2:
        ends = [(NAN, NAN)] * 2
    else:
        ends = interval_ends(statistic, [spearman, kendall], int(scored.sum()), rounds=rounds, seed=seed,
                          confidence=confidence, method="percentile")
    figures = [Estimate(float(v), lo, hi, len(systems), "bootstrap percentile")
               for v, (lo, hi) in zip((spearman, kendall), ends, strict=True)]
    return SystemAgreement(*figures, len(systems), int(scored.sum()))


# ---------------------------------------------------------------------------------------- human ceiling


@dataclass(frozen=True)
class HumanCeiling:
    """How well the annotators agree with each other: the most a metric can hope to reach."""

    leave_one_out: Estimate  # share of (item, annotator) labels equal to the majority of the other annotators
    fleiss_kappa: Estimate  # over items with the usual number of ratings
    krippendorff_alpha: Estimate  # nominal, over items with at least two labels
    items: int
    annotators: int
    fleiss_left_out: int  # items whose number of ratings differs from the usual one

    def to_dict(self) -> dict[str, Any]:
        return {"leave_one_out": self.leave_one_out.to_dict(), "fleiss_kappa": self.fleiss_kappa.to_dict(),
                "krippendorff_alpha": self.krippendorff_alpha.to_dict(), "items": self.items,
                "annotators": self.annotators, "fleiss_left_out": self.fleiss_left_out}


def _fleiss_kappa(totals: np.ndarray, raters: int) -> np.ndarray:
    """Fleiss' kappa from weighted totals: columns = items, sum of P_i, then each category's count."""
    items, agreement, counts = totals[:, 0], totals[:, 1], totals[:, 2:]
    shares = counts / (raters * items[:, None])
    chance = (shares**2).sum(axis=1)
    return np.where(np.isclose(chance, 1.0), np.nan, (agreement / items - chance) / (1.0 - chance))


def _ceiling_figures(totals: np.ndarray, raters: int, categories: int) -> np.ndarray:
    """Leave-one-out agreement, Fleiss' kappa and nominal alpha from weighted per-item features."""
    loo = totals[:, 0] / totals[:, 1]
    fleiss = _fleiss_kappa(totals[:, 2:4 + categories], raters) if raters >= 2 else np.full(len(totals), np.nan)
    coincidence = totals[:, -categories * categories:].reshape(-1, categories, categories)
    values = coincidence.sum(axis=2)
    total = values.sum(axis=1)
    spread = total**2 - (values**2).sum(axis=1)
    disagree = total - np.trace(coincidence, axis1=1, axis2=2)
    alpha = np.where(spread > 1e-9, 1.0 - (total - 1.0) * disagree / np.where(spread > 1e-9, spread, 1), np.nan)
    return np.column_stack([loo, fleiss, alpha])


def human_ceiling(annotations: Sequence[Mapping[str, str | None]], *, rounds: int = 1000, seed: int = 0,
                  confidence: float = 0.95) -> HumanCeiling:
    """Inter-annotator agreement on pairwise labels: one mapping per item, annotator id -> label (or None).

    - Leave-one-out: each label an annotator gave is compared with ``majority`` of the other annotators'
      labels on that item (a split among them counts as "tie"); skipped when no other annotator labelled
      it. The figure is the share of agreeing labels, n = labels compared.
    - Fleiss' kappa: items with the most common number of labels (at least two; the larger count on a
      draw); the other items are left out and counted. n = items used.
    - Krippendorff's alpha (nominal, ``stats.krippendorff_alpha``): items with at least two labels.
    All three intervals are BCa bootstraps over items (the same resamples for the three).
    """
    annotators = list(dict.fromkeys(a for item in annotations for a in item))
    codes = [{a: _code(label) for a, label in item.items() if _code(label) >= 0} for item in annotations]
    counts = np.zeros((len(codes), 3))
    agree, compared = np.zeros(len(codes)), np.zeros(len(codes))
    for row, item in enumerate(codes):
        for annotator, code in item.items():
            counts[row, code] += 1
            others = majority([LABELS[c] for a, c in item.items() if a != annotator])
            if others is not None:
                compared[row] += 1
                agree[row] += LABELS[code] == others
    rated = counts.sum(axis=1)
    usable = rated[rated >= 2]
    raters = int(max(Counter(usable.tolist()).items(), key=lambda kv: (kv[1], kv[0]))[0]) if usable.size else 0
    fleiss_items = (rated == raters) & (raters >= 2)
    pair_agreement = np.where(fleiss_items, ((counts**2).sum(axis=1) - raters) / max(raters * (raters - 1), 1), 0.0)
    pairable = (rated >= 2)[:, None, None]
    coincidence = (counts[:, :, None] * counts[:, None, :] - counts[:, :, None] * np.eye(3)) / np.maximum(rated - 1, 1)[
        :, None, None]
    features = np.column_stack([agree, compared, fleiss_items, pair_agreement, counts * fleiss_items[:, None],
                                (coincidence * pairable).reshape(len(codes), 9)])

    def statistic(weights: np.ndarray) -> np.ndarray:
        return _ceiling_figures(weights @ features, raters, 3)

    row_of = {annotator: row for row, annotator in enumerate(annotators)}
    table = np.full((len(annotators), len(codes)), np.nan)  # rater x item, as krippendorff_alpha takes it
    for column, item in enumerate(codes):
        for annotator, code in item.items():
            table[row_of[annotator], column] = code
    with np.errstate(all="ignore"):
        loo, fleiss, _ = statistic(np.ones((1, len(codes))))[0] if codes else (NAN, NAN, NAN)
    alpha = krippendorff_alpha(table, "nominal") if codes else NAN
    ends = interval_ends(statistic, [loo, fleiss, alpha], len(codes), rounds=rounds, seed=seed, confidence=confidence)
    sizes = [int(compared.sum()), int(fleiss_items.sum()), int(pairable.sum())]
    figures = [Estimate(float(v), lo, hi, size) if size else _undefined(0)
               for v, (lo, hi), size in zip((loo, fleiss, alpha), ends, sizes, strict=True)]
    return HumanCeiling(*figures, len(codes), len(annotators), int(len(codes) - fleiss_items.sum()))


__all__ = ["LABELS", "Estimate", "HumanCeiling", "PairwiseAgreement", "SystemAgreement", "correlations",
           "human_ceiling", "label_from_scores", "length_preference", "majority", "pairwise_agreement",
           "position_consistency", "system_agreement"]
