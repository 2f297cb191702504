"""How an estimate, an interval, a judge's usage and a dataset build read, wherever they are shown."""

from __future__ import annotations

import math

from travelbot.format import (
    agreement_with_confidence,
    build_summary,
    estimate,
    estimate_of,
    interval,
    judge_usage,
    separability,
)


def test_an_estimate_reads_with_its_interval_or_alone_or_as_a_dash() -> None:
    assert estimate(0.61234, 0.5, 0.7) == "0.612 [0.500, 0.700]"
    assert estimate(1012.4, 990.0, 1030.0, digits=0) == "1012 [990, 1030]"
    assert estimate(0.5) == estimate(0.5, None, 0.7) == estimate(0.5, math.nan, 0.7) == "0.500"
    assert estimate(None) == estimate(math.nan, 0.1, 0.2) == "—"
    assert estimate_of({"value": 0.25, "lower": 0.1, "upper": 0.4, "n": 30}, digits=2) == "0.25 [0.10, 0.40]"
    assert estimate_of(None) == estimate_of({}) == "—"
    assert interval(0.1, 0.2) == "0.100 – 0.200" and interval(None, 0.2) == interval(math.nan, 1.0) == "—"


def test_usage_and_build_summaries() -> None:
    assert judge_usage({"requests": 3, "retries": 1, "prompt_tokens": 100, "completion_tokens": 20,
                        "cost_usd": 0.0123}) == "3 requests, 1 retries, 100+20 tokens, $0.0123"
    manifest = {"datasets": {"sft": {"train": {"rows": 90}, "heldout": {"rows": 10}}},
                "leakage": {"dropped_exact": 1, "dropped_similar": 2, "threshold": 0.9, "checked": 100},
                "retrieval": {"test": {"recall": 0.95, "n": 45}}}
    assert build_summary(manifest) == [
        "sft: train 90, held-out 10",
        "leakage check: dropped 1 exact and 2 similar (cosine ≥ 0.9) of 100 questions",
        "retrieval recall@5 on golden test: 0.95 (n=45)"]
    assert build_summary({"datasets": {}}) == []


def test_separability_and_agreement_with_confidence_read_with_their_counts() -> None:
    assert separability({"value": 0.8, "separated": 8, "n": 10}) == "0.800 (8 of 10 pairs)"
    assert separability({"value": None, "separated": 0, "n": 0}) == separability(None) == "—"
    figure = {"value": 0.75, "agree": 6, "undecided": 1, "disagree": 1, "n": 8}
    assert agreement_with_confidence(figure) == "+0.750 (+1 ×6, 0 ×1, −1 ×1 of 8 pairs)"
    assert agreement_with_confidence({**figure, "value": None}) == "—"
