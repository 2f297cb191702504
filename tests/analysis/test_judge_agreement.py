"""Tests for travelbot/analysis/judge_agreement.py: PandaLM's published judge figures, reproduced from the
imported files, and reference-based metrics used as judges."""

from __future__ import annotations

from pathlib import Path

import pytest

from travelbot.analysis.judge_agreement import set_agreement
from travelbot.analysis.judgments import JudgmentItem, import_judgments, load_pandalm
from travelbot.errors import InvalidInputError
from travelbot.store import Store


def test_reproduces_pandalms_published_judge_figures(pandalm_dir: Path, store: Store) -> None:
    items, _ = load_pandalm(pandalm_dir)
    import_judgments(items, "pandalm", "pandalm", store)
    result = set_agreement("pandalm", rounds=200, store=store)
    rows = {row.name: row.agreement for row in result.rows}
    assert round(rows["gpt-3.5-turbo"].accuracy.value, 4) == 0.7107
    assert round(rows["gpt-3.5-turbo"].f1.value, 4) == 0.5755
    assert round(rows["pandalm-7b"].accuracy.value, 4) == 0.6677
    assert round(rows["pandalm-7b"].f1.value, 4) == 0.5743
    assert rows["gpt-3.5-turbo"].n == 999 and rows["gpt-3.5-turbo"].accuracy.lower < 0.7107 < rows[
        "gpt-3.5-turbo"].accuracy.upper
    ceiling = result.humans["ceiling"]
    assert ceiling["fleiss_kappa"]["value"] == pytest.approx(0.8642, abs=1e-4)
    assert result.humans["labels"] == {"A": 422, "B": 472, "tie": 105}
    baseline = next(row for row in result.rows if row.kind == "baseline")  # "prefer the longer response"
    assert baseline.name == "longer response" and (baseline.agreement.n, baseline.agreement.left_out) == (993, 6)
    assert baseline.agreement.accuracy.value < rows["gpt-3.5-turbo"].accuracy.value  # the judges beat the heuristic
    # The items name their two models (cmp_key): people's board of the five against each judge's
    rankings = result.rankings
    assert list(rankings) == ["gpt-3.5-turbo", "pandalm-7b", "longer response"]
    assert rankings["gpt-3.5-turbo"].variants == ("bloom-7b", "cerebras-gpt-6.7B", "llama-7b", "opt-7b", "pythia-6.9b")
    assert all(r.pairs == 10 and r.disagree == 0 for r in rankings.values())  # none contradicts people
    assert rankings["gpt-3.5-turbo"].agreement > rankings["longer response"].agreement
    assert result.to_dict()["rankings"]["pandalm-7b"]["agreement_with_confidence"]["n"] == rankings[
        "pandalm-7b"].people_separated


def test_metrics_as_judges_prefer_the_response_closer_to_the_reference(store: Store) -> None:
    reference = "Take the metro line 3 from the airport to Syntagma; it takes about 40 minutes."
    close, far = "Metro line 3 goes from the airport to Syntagma in about 40 minutes.", "Kyoto is lovely in spring."
    items = [JudgmentItem(str(i), "Airport to Syntagma?", *((close, far) if i % 2 else (far, close)), reference,
                          {"h1": "A" if i % 2 else "B", "h2": "A" if i % 2 else "B"}) for i in range(8)]
    items.append(JudgmentItem("empty", "Q?", "", close, reference, {"h1": "B"}))
    import_judgments(items, "toy", "test", store)
    result = set_agreement("toy", metrics=["bleu", "rougeL", "bertscore_f1"], rounds=200, store=store)
    for row in (r for r in result.rows if r.kind != "baseline"):
        assert row.kind == "metric" and row.agreement.accuracy.value == 1.0 and row.agreement.n == 8
        assert row.notes["missing"] == {"empty answer": 1} and row.agreement.left_out == 1
    assert result.metric_caveat() == ""  # the items' own references: nothing to warn about
    with pytest.raises(InvalidInputError, match="Unknown metric 'vibes'"):
        set_agreement("toy", metrics=["vibes"], store=store)


def test_the_length_baseline_prefers_the_longer_response_and_skips_missing_text() -> None:
    from travelbot.analysis.judge_agreement import longer_label

    assert [longer_label(10, 3), longer_label(3, 10), longer_label(5, 5), longer_label(None, 5)] == ["A", "B", "tie", None]


def test_a_judge_asked_in_both_orders_reports_its_position_consistency(store: Store) -> None:
    from travelbot.analysis.judgments import validate_judgment

    rows = []
    for i in range(40):  # humans say A; the judge's first order is always right, the swapped one 3 times in 4
        swapped = "A" if i % 4 else "B"
        rows.append(validate_judgment({"item_id": i, "prompt": "Q?", "response_a": "a" * (i + 1), "response_b": "b",
                                       "labels": {"h": "A"}, "judges": {"j": {"label": "A", "swapped": swapped}}}))
    import_judgments([JudgmentItem(**row) for row in rows], "orders", "test", store)
    (judge,) = [r for r in set_agreement("orders", rounds=200, store=store).rows if r.kind == "judge"]
    orders = judge.notes["orders"]
    assert orders["position_consistency"]["value"] == 0.75 and orders["position_consistency"]["n"] == 40
    assert orders["accuracy_first_order"]["value"] == 1.0 and orders["accuracy_swapped_order"]["value"] == 0.75
    assert orders["accuracy_consistent_items"]["value"] == 1.0 and orders["accuracy_consistent_items"]["n"] == 30
    with pytest.raises(ValueError, match="is not A, B or tie"):
        validate_judgment({"item_id": 1, "prompt": "Q?", "response_a": "a", "response_b": "b", "labels": {"h": "A"},
                           "judges": {"j": {"label": "A", "swapped": "sideways"}}})


def test_rankings_only_where_the_items_name_their_models(store: Store) -> None:
    """Generic items with ``model_a``/``model_b``: people's board and the judge's; without them, no rankings."""
    from travelbot.analysis.judgments import validate_judgment

    strength = {"m1": 0, "m2": 1, "m3": 2}
    rows = []
    for i in range(150):  # the stronger model of each pair wins every time, for people and the judge alike
        a, b = [("m1", "m2"), ("m2", "m3"), ("m1", "m3")][i % 3][:: 1 if i % 2 else -1]
        label = "A" if strength[a] > strength[b] else "B"
        rows.append(validate_judgment({"item_id": str(i), "prompt": "Q?", "response_a": "x", "response_b": "y",
                                       "labels": {"h": label}, "judges": {"j": label},
                                       "model_a": a, "model_b": b}))
    import_judgments([JudgmentItem(**row) for row in rows], "named", "test", store)
    ranking = set_agreement("named", rounds=200, store=store).rankings["j"]
    assert ranking.variants == ("m1", "m2", "m3") and ranking.agreement == 1.0 and ranking.separability == 1.0
    import_judgments([JudgmentItem(**{**row, "model_a": None, "model_b": None}) for row in rows], "unnamed", "test",
                     store)
    assert set_agreement("unnamed", rounds=200, store=store).rankings == {}
