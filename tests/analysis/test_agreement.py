"""Metric-versus-human agreement: hand-checked cases, sklearn/scipy equivalence, PandaLM's published
figures, and the coverage of the 95% intervals by simulation on data with a known true value."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score, precision_recall_fscore_support

from travelbot.analysis import agreement as ag
from travelbot.analysis.agreement import (
    LABELS,
    Estimate,
    correlations,
    human_ceiling,
    label_from_scores,
    length_preference,
    majority,
    pairwise_agreement,
    position_consistency,
    system_agreement,
)
from travelbot.stats import bootstrap_weights, krippendorff_alpha

# ---------------------------------------------------------------------------------------- labels


def test_estimate_to_dict_turns_nan_into_none():
    assert Estimate(0.5, 0.4, 0.6, 10).to_dict() == {"value": 0.5, "lower": 0.4, "upper": 0.6, "n": 10,
                                                     "method": "bootstrap BCa"}
    assert Estimate(float("nan"), float("nan"), float("nan"), 0, "Wilson").to_dict() == {
        "value": None, "lower": None, "upper": None, "n": 0, "method": "Wilson"}
    json.dumps(Estimate(float("nan"), 0.1, 0.2, 3).to_dict())


@pytest.mark.parametrize(("labels", "expected"), [
    (["A", "A", "B"], "A"), (["B", "tie", "B"], "B"), (["tie", "tie", "A"], "tie"),
    (["A", "B"], "tie"), (["A", "B", "tie"], "tie"), (["A", "A", "B", "B", "tie"], "tie"),
    (["A", None, None], "A"), (["A", None, "B"], "tie"), ([None, None], None), ([], None),
])
def test_majority(labels, expected):
    assert majority(labels) == expected


def test_bad_labels_are_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="'A', 'B', 'tie' or None"):
        majority(["A", "Tie"])
    with pytest.raises(ValueError, match="'A', 'B', 'tie' or None"):
        pairwise_agreement(["A", 1], ["A", "B"])
    with pytest.raises(ValueError, match="one value per item"):
        pairwise_agreement(["A", "B"], ["A"])


def test_label_from_scores():
    assert label_from_scores(0.8, 0.5) == "A"
    assert label_from_scores(0.5, 0.8) == "B"
    assert label_from_scores(0.5, 0.5) == "tie"
    assert label_from_scores(0.55, 0.5, margin=0.1) == "tie"
    assert label_from_scores(0.5, 0.61, margin=0.1) == "B"
    assert label_from_scores(0.6, 0.5, margin=0.1) == "tie"  # within the margin (up to rounding) is a tie
    assert label_from_scores(None, 0.5) is None and label_from_scores(0.5, float("nan")) is None
    with pytest.raises(ValueError):
        label_from_scores(1, 0, margin=-0.1)


# ---------------------------------------------------------------------------------------- pairwise agreement


def test_perfect_pairwise_agreement():
    labels = ["A", "B", "tie", "A", "B"] * 8
    result = pairwise_agreement(labels, labels, rounds=200)
    assert result.accuracy.value == 1.0 and result.accuracy.upper == 1.0 and result.accuracy.lower < 1.0
    assert result.accuracy_without_ties.value == 1.0 and result.accuracy_without_ties.n == 32
    for figure in (result.kappa, result.precision, result.recall, result.f1):
        assert (figure.value, figure.lower, figure.upper) == pytest.approx((1.0, 1.0, 1.0))
    assert result.confusion == ((16, 0, 0), (0, 16, 0), (0, 0, 8))
    assert (result.n, result.left_out) == (40, 0)


def test_known_confusion_matrix_matches_sklearn():
    # rows: human A/B/tie; columns: metric A/B/tie
    confusion = np.array([[30, 5, 5], [4, 25, 6], [6, 9, 10]])
    human = [LABELS[i] for i in range(3) for j in range(3) for _ in range(confusion[i, j])]
    metric = [LABELS[j] for i in range(3) for j in range(3) for _ in range(confusion[i, j])]
    result = pairwise_agreement(human + [None, "A"], metric + ["B", None], rounds=300)
    assert result.confusion == tuple(map(tuple, confusion.tolist()))
    assert (result.n, result.left_out) == (100, 2)
    assert result.accuracy.value == pytest.approx(65 / 100)
    assert result.accuracy_without_ties.value == pytest.approx(55 / 64) and result.accuracy_without_ties.n == 64
    h = np.repeat(np.arange(3), confusion.sum(1))
    m = np.concatenate([np.repeat(np.arange(3), row) for row in confusion])
    precision, recall, f1, _ = precision_recall_fscore_support(h, m, average="macro")
    assert result.kappa.value == pytest.approx(cohen_kappa_score(h, m))
    assert (result.precision.value, result.recall.value, result.f1.value) == pytest.approx((precision, recall, f1))
    # Hand check of one figure: macro recall = mean(30/40, 25/35, 10/25).
    assert result.recall.value == pytest.approx((30 / 40 + 25 / 35 + 10 / 25) / 3)
    for figure in (result.kappa, result.precision, result.recall, result.f1, result.accuracy):
        assert figure.lower < figure.value < figure.upper
    as_dict = result.to_dict()
    assert as_dict["labels"] == ["A", "B", "tie"] and as_dict["confusion"][2] == [6, 9, 10]
    json.dumps(as_dict)


def test_macro_average_runs_over_labels_present_and_counts_unpredicted_as_zero():
    # No tie anywhere: the macro average runs over A and B only, as sklearn's.
    result = pairwise_agreement(["A", "A", "B", "B"], ["A", "B", "B", "B"], rounds=100)
    assert result.precision.value == pytest.approx((1 / 1 + 2 / 3) / 2)
    # Humans said tie but the metric never did: tie's precision is 0 (as PandaLM counts it), not undefined.
    result = pairwise_agreement(["A", "tie", "B"], ["A", "A", "B"], rounds=100)
    assert result.precision.value == pytest.approx((1 / 2 + 1 + 0) / 3)


def test_pairwise_edges_and_reproducibility():
    empty = pairwise_agreement([None, "A"], ["B", None])
    assert empty.n == 0 and empty.left_out == 2 and math.isnan(empty.kappa.value) and math.isnan(empty.accuracy.value)
    single = pairwise_agreement(["A"] * 5, ["A"] * 5)  # one label on both sides: kappa undefined
    assert math.isnan(single.kappa.value) and single.accuracy.value == 1.0
    rng = np.random.default_rng(3)
    human = list(rng.choice(LABELS, 80))
    metric = [h if rng.random() < 0.6 else rng.choice(LABELS) for h in human]
    assert pairwise_agreement(human, metric, seed=5) == pairwise_agreement(human, metric, seed=5)
    assert pairwise_agreement(human, metric, seed=5).kappa != pairwise_agreement(human, metric, seed=6).kappa


def test_weighted_resamples_equal_sklearn_on_the_expanded_items():
    """The vectorised bootstrap (multiplicities x per-item features) is the same as recomputing on each resample."""
    rng = np.random.default_rng(0)
    h = rng.integers(0, 3, 60)
    m = np.where(rng.random(60) < 0.6, h, rng.integers(0, 3, 60))
    weights = next(bootstrap_weights(60, 25, seed=1))
    figures = ag._confusion_figures(weights @ np.eye(9)[3 * h + m])
    for w, row in zip(weights.astype(int), figures, strict=True):
        hh, mm = np.repeat(h, w), np.repeat(m, w)
        precision, recall, f1, _ = precision_recall_fscore_support(hh, mm, average="macro", zero_division=0.0)
        assert row == pytest.approx([cohen_kappa_score(hh, mm), precision, recall, f1])


def _pandalm_dir() -> Path | None:
    from tests.conftest import find_pandalm

    return find_pandalm()


@pytest.mark.skipif(_pandalm_dir() is None, reason="the PandaLM test set (shared/benchmarks/pandalm) is not here")
@pytest.mark.parametrize(("judge_file", "key", "published"), [
    ("gpt-3.5-turbo-testset-v1.json", "gpt_result", (0.7107, 0.5879, 0.5736, 0.5755)),
    ("pandalm-7b-testset-v1.json", "pandalm_result", (0.6677, 0.5738, 0.5750, 0.5743)),
])
def test_reproduces_pandalm_published_figures(judge_file, key, published):
    folder = _pandalm_dir()
    names = {"1": "A", "2": "B", "0": "tie", "Tie": "tie", "tie": "tie", "garbage": "tie"}  # garbage: as PandaLM
    items = json.loads((folder / "testset-v1.json").read_text())
    verdicts = {row["idx"]: names[str(row[key])] for row in json.loads((folder / judge_file).read_text())}
    human = [majority([names[str(item[f"annotator{k}"])] for k in (1, 2, 3)]) for item in items]
    judge = [verdicts[item["idx"]] for item in items]
    result = pairwise_agreement(human, judge, rounds=200)
    figures = (result.accuracy.value, result.precision.value, result.recall.value, result.f1.value)
    assert figures == pytest.approx(published, abs=5e-5)
    assert result.n == 999


# ---------------------------------------------------------------------------------------- position and length


def test_position_consistency():
    first = ["A", "B", "tie", "A", None]
    second = ["A", "A", "tie", "B", "A"]
    result = position_consistency(first, second)
    assert (result.value, result.n, result.method) == (0.5, 4, "Wilson")
    assert 0 < result.lower < 0.5 < result.upper < 1
    assert math.isnan(position_consistency([None], ["A"]).value)


def test_length_preference():
    labels = ["A", "B", "A", "tie", "B", None, "A"]
    len_a = [100, 10, 5, 100, 50, 100, 7]
    len_b = [10, 100, 50, 10, 50, 10, None]
    # decided with different lengths: items 0 (A, longer), 1 (B, longer), 2 (A, shorter) -> 2 of 3
    result = length_preference(labels, len_a, len_b)
    assert result.value == pytest.approx(2 / 3) and result.n == 3


# ---------------------------------------------------------------------------------------- correlations


def test_correlations_match_scipy_and_leave_out_missing():
    rng = np.random.default_rng(1)
    metric = rng.normal(size=50)
    human = np.round(metric + rng.normal(size=50)).clip(-2, 2)  # Likert-like, many ties
    result = correlations(list(metric) + [None, 1.0, float("nan")], list(human) + [1.0, None, 2.0], rounds=300)
    assert result["pearson"].value == pytest.approx(stats.pearsonr(metric, human)[0])
    assert result["spearman"].value == pytest.approx(stats.spearmanr(metric, human)[0])
    assert result["kendall"].value == pytest.approx(stats.kendalltau(metric, human)[0])
    for figure in result.values():
        assert figure.n == 50 and figure.lower < figure.value < figure.upper


def test_weighted_correlations_equal_scipy_on_the_expanded_items():
    rng = np.random.default_rng(2)
    x = np.round(rng.normal(size=40), 1)
    y = np.round(x + rng.normal(size=40))
    weights = next(bootstrap_weights(40, 10, seed=4))
    values = ag._correlations(x, y)(weights)
    for w, row in zip(weights.astype(int), values, strict=True):
        xx, yy = np.repeat(x, w), np.repeat(y, w)
        expected = [stats.spearmanr(xx, yy)[0], stats.kendalltau(xx, yy)[0], stats.pearsonr(xx, yy)[0]]
        assert row == pytest.approx(expected)
    leave_one_out = np.ones((40, 40)) - np.eye(40)
    assert ag._kendall_jackknife(x, y) == pytest.approx(ag._correlations(x, y)(leave_one_out)[:, 1])


def test_correlation_edges():
    perfect = correlations([1, 2, 3, 4, 5], [2, 4, 6, 8, 10])
    assert all(figure.value == pytest.approx(1.0) for figure in perfect.values())
    constant = correlations([1, 2, 3], [4, 4, 4])
    assert all(math.isnan(figure.value) for figure in constant.values())
    too_few = correlations([1, None], [2, 3])
    assert all(math.isnan(figure.value) and figure.n == 1 for figure in too_few.values())


def test_system_agreement():
    metric = {"base": {"q1": 1, "q2": 2, "q3": 3}, "raft": {"q1": 2, "q2": 3, "q3": 4, "q4": None},
              "dpo": {"q1": 3, "q2": 4, "q3": 5}, "only_metric": {"q1": 9}}
    human = {"base": {"q1": 1, "q2": 1, "q3": 2}, "raft": {"q1": 4, "q2": 4, "q3": 4},
             "dpo": {"q1": 3, "q2": 3, "q3": 3}}
    result = system_agreement(metric, human, rounds=200)
    # metric order base < raft < dpo; human order base < dpo < raft
    assert result.spearman.value == pytest.approx(0.5) and result.kendall.value == pytest.approx(1 / 3)
    assert (result.systems, result.items, result.spearman.n) == (3, 3, 3)
    assert result.spearman.method == "bootstrap percentile"
    same = system_agreement(metric, metric, rounds=200)
    assert same.spearman.value == pytest.approx(1.0) and same.kendall.lower == pytest.approx(1.0)
    single = system_agreement({"a": {"q": 1}}, {"a": {"q": 2}})
    assert math.isnan(single.spearman.value)
    json.dumps(result.to_dict())


# ---------------------------------------------------------------------------------------- human ceiling


def test_human_ceiling_perfect_and_hand_checked():
    perfect = human_ceiling([{"ann1": label, "ann2": label, "ann3": label} for label in ["A", "B", "tie"] * 5],
                            rounds=200)
    assert perfect.leave_one_out.value == 1.0 and perfect.leave_one_out.n == 45
    assert perfect.fleiss_kappa.value == pytest.approx(1.0) and perfect.krippendorff_alpha.value == pytest.approx(1.0)

    items = [{"x": "A", "y": "A", "z": "A"}, {"x": "A", "y": "A", "z": "B"}, {"x": "A", "y": "B", "z": "tie"},
             {"x": "B", "y": "B", "z": "B"}, {"x": "tie", "y": None, "z": "tie"}, {"x": "A", "y": None, "z": None}]
    result = human_ceiling(items, rounds=200)
    # Leave-one-out, each label against majority() of the other two:
    #   item 1: 3 of 3; item 2 (A, A, B): x and y face a split (A, B) -> "tie", z faces "A" -> 0 of 3;
    #   item 3 (A, B, tie): every other pair splits -> "tie", so only z agrees -> 1 of 3; item 4: 3 of 3;
    #   item 5: 2 of 2; item 6: nobody else labelled it, skipped.
    assert result.leave_one_out.value == pytest.approx((3 + 0 + 1 + 3 + 2) / 14) and result.leave_one_out.n == 14
    # Fleiss over the four items with three labels: P_i = 1, 1/3, 0, 1; label shares (6, 5, 1) / 12.
    chance = (6 / 12) ** 2 + (5 / 12) ** 2 + (1 / 12) ** 2
    assert result.fleiss_kappa.value == pytest.approx(((1 + 1 / 3 + 0 + 1) / 4 - chance) / (1 - chance))
    assert (result.fleiss_kappa.n, result.fleiss_left_out) == (4, 2)
    table = [[0, 0, 0, 1, 2, 0], [0, 0, 1, 1, np.nan, np.nan], [0, 1, 2, 1, 2, np.nan]]
    assert result.krippendorff_alpha.value == pytest.approx(krippendorff_alpha(table, "nominal"))
    assert result.krippendorff_alpha.n == 5 and (result.items, result.annotators) == (6, 3)
    json.dumps(result.to_dict())


def test_fleiss_kappa_published_example():
    # Fleiss' kappa worked example (Wikipedia, "Fleiss' kappa"): 10 items, 14 raters, 5 categories -> 0.210.
    table = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                      [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]], float)
    agreement = ((table**2).sum(axis=1) - 14) / (14 * 13)
    totals = np.r_[len(table), agreement.sum(), table.sum(axis=0)][None]
    assert ag._fleiss_kappa(totals, 14)[0] == pytest.approx(0.210, abs=5e-4)


def test_vectorised_alpha_equals_krippendorff_on_resamples():
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 3, 30)
    items = [{f"r{k}": LABELS[t if rng.random() < 0.7 else rng.integers(0, 3)] for k in range(3)
              if rng.random() < 0.85} for t in truth]
    result = human_ceiling(items, rounds=50)
    assert math.isfinite(result.krippendorff_alpha.value)
    weights = next(bootstrap_weights(len(items), 5, seed=2)).astype(int)
    for w in weights:
        resample = [item for item, times in zip(items, w, strict=True) for _ in range(times)]
        table = [[ag._CODE[item[r]] if r in item else np.nan for item in resample] for r in ("r0", "r1", "r2")]
        expected = krippendorff_alpha(table, "nominal")
        assert human_ceiling(resample, rounds=1).krippendorff_alpha.value == pytest.approx(expected)


# ---------------------------------------------------------------------------------------- interval coverage
# Each simulation draws many datasets from a model whose true figure is known exactly, computes the 95%
# intervals on each, and counts how often they hold the truth. 1000 datasets put the coverage within
# about ±0.014 (2 standard errors) of its true rate, so the 0.93-0.97 band is a fair test of calibration.

DATASETS = 1000
ITEMS = 200


def _coverage(hits: dict[str, int]) -> dict[str, float]:
    return {name: round(float(count) / DATASETS, 3) for name, count in hits.items()}


@pytest.mark.slow
def test_pairwise_interval_coverage():
    # Humans' labels from a fixed distribution; the metric copies the human label with probability p and
    # otherwise picks one of the two other labels at random, so the joint distribution is known exactly.
    share, p = np.array([0.45, 0.35, 0.20]), 0.7
    joint = share[:, None] * np.where(np.eye(3, dtype=bool), p, (1 - p) / 2)
    human, metric, hits = joint.sum(axis=1), joint.sum(axis=0), np.diag(joint)
    chance = (human * metric).sum()
    truth = {"accuracy": p, "accuracy_without_ties": hits[:2].sum() / joint[:2, :2].sum(),
             "kappa": (p - chance) / (1 - chance), "precision": np.mean(hits / metric),
             "recall": np.mean(hits / human), "f1": np.mean(2 * hits / (human + metric))}
    rng = np.random.default_rng(123)
    covered = dict.fromkeys(truth, 0)
    start = time.perf_counter()
    for dataset in range(DATASETS):
        h = rng.choice(3, size=ITEMS, p=share)
        m = np.where(rng.random(ITEMS) < p, h, (h + rng.integers(1, 3, ITEMS)) % 3)
        result = pairwise_agreement([LABELS[i] for i in h], [LABELS[i] for i in m], rounds=1000, seed=dataset)
        for name, value in truth.items():
            figure = getattr(result, name)
            covered[name] += figure.lower <= value <= figure.upper
    coverage = _coverage(covered)
    print(f"pairwise coverage ({DATASETS} datasets x {ITEMS} items, 1000 rounds, "
          f"{time.perf_counter() - start:.1f} s): {coverage}")
    assert all(0.93 <= rate <= 0.97 for rate in coverage.values()), coverage


@pytest.mark.slow
def test_correlation_interval_coverage():
    # Bivariate normal with rho = 0.5: Pearson's truth is rho, Spearman's 6/pi asin(rho/2), Kendall's 2/pi asin(rho).
    rho = 0.5
    truth = {"pearson": rho, "spearman": 6 / math.pi * math.asin(rho / 2), "kendall": 2 / math.pi * math.asin(rho)}
    rng = np.random.default_rng(7)
    covered = dict.fromkeys(truth, 0)
    start = time.perf_counter()
    for dataset in range(DATASETS):
        x, y = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=ITEMS).T
        result = correlations(x, y, rounds=400, seed=dataset)
        for name, value in truth.items():
            covered[name] += result[name].lower <= value <= result[name].upper
    coverage = _coverage(covered)
    print(f"correlation coverage ({DATASETS} datasets x {ITEMS} items, 400 rounds, "
          f"{time.perf_counter() - start:.1f} s): {coverage}")
    assert all(0.93 <= rate <= 0.97 for rate in coverage.values()), coverage


@pytest.mark.slow
def test_human_ceiling_interval_coverage():
    # Three annotators per item each give the item's true label with probability q, else one of the other two.
    share, q = np.array([0.45, 0.35, 0.20]), 0.7
    given = np.where(np.eye(3, dtype=bool), q, (1 - q) / 2)  # given[true, label]
    observed = (share[:, None] * given**2).sum()
    chance = ((share @ given) ** 2).sum()
    kappa = (observed - chance) / (1 - chance)  # Fleiss' kappa and nominal alpha share this population value
    # Leave-one-out: the other two agree on a label, or split ("tie" by majority()).
    others = given**2 + np.outer(1 - (given**2).sum(axis=1), [0, 0, 1])
    truth = {"leave_one_out": (share[:, None] * given * others).sum(), "fleiss_kappa": kappa,
             "krippendorff_alpha": kappa}
    rng = np.random.default_rng(11)
    covered = dict.fromkeys(truth, 0)
    start = time.perf_counter()
    for dataset in range(DATASETS):
        true = rng.choice(3, size=ITEMS, p=share)
        labels = np.where(rng.random((3, ITEMS)) < q, true, (true + rng.integers(1, 3, (3, ITEMS))) % 3)
        annotations = [{f"r{k}": LABELS[labels[k, i]] for k in range(3)} for i in range(ITEMS)]
        result = human_ceiling(annotations, rounds=1000, seed=dataset)
        for name, value in truth.items():
            figure = getattr(result, name)
            covered[name] += figure.lower <= value <= figure.upper
    coverage = _coverage(covered)
    print(f"human ceiling coverage ({DATASETS} datasets x {ITEMS} items, 1000 rounds, "
          f"{time.perf_counter() - start:.1f} s): {coverage}")
    assert all(0.93 <= rate <= 0.97 for rate in coverage.values()), coverage
