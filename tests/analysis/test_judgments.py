"""Tests for travelbot/analysis/judgments.py: the generic JSONL format, PandaLM's files, the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from travelbot.analysis.judgments import (
    import_judgments,
    judgment_sets,
    load_jsonl_judgments,
    load_pandalm,
    load_set,
    normalise_label,
)
from travelbot.errors import InvalidInputError
from travelbot.store import Store

GOOD = {"item_id": "q1", "prompt": "Best month for Kyoto?", "response_a": "April.", "response_b": "",
        "reference": "Late March to early April, or November.",
        "labels": {"ann1": "A", "ann2": 1, "ann3": "tie"}, "judges": {"gpt-4": "model_a", "mine": {"label": "B",
                                                                                                   "reason": "x"}}}


def test_generic_jsonl_keeps_good_rows_and_says_why_bad_ones_are_refused(tmp_path: Path) -> None:
    rows = [GOOD, {**GOOD, "item_id": "q1"}, {**GOOD, "item_id": "q2", "response_a": True},
            {**GOOD, "item_id": "q3", "labels": {}}, {**GOOD, "item_id": "q4", "labels": {"a": "maybe"}},
            {**GOOD, "item_id": "q5", "prompt": ""}, {k: v for k, v in GOOD.items() if k != "item_id"}]
    path = tmp_path / "judgments.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n", encoding="utf-8")
    items, report = load_jsonl_judgments(path)
    assert [i.item_id for i in items] == ["q1"]
    assert items[0].labels == {"ann1": "A", "ann2": "A", "ann3": "tie"} and items[0].response_b == ""
    assert items[0].judges == {"gpt-4": {"label": "A"}, "mine": {"label": "B", "reason": "x"}}
    assert items[0].model_a is None and items[0].model_b is None  # optional: which models the responses are from
    assert set(report.reasons) == {"duplicate item_id", "response_a is not text (bool)",
                                   "labels must be an object of annotator id -> label, with at least one label",
                                   "label 'maybe' is not A, B or tie", "prompt is empty", "item_id is missing",
                                   "malformed JSON"}


def test_labels_in_their_spellings() -> None:
    assert [normalise_label(v) for v in ("A", "b", "Tie", 1, 2, 0, "model_a", "tie (bothbad)")] == [
        "A", "B", "tie", "A", "B", "tie", "A", "tie"]
    for bad in (True, None, "C+", 3):
        with pytest.raises(ValueError, match="not A, B or tie"):
            normalise_label(bad)


def test_pandalm_imports_every_item_and_reports_non_text_responses(pandalm_dir: Path, store: Store) -> None:
    items, report = load_pandalm(pandalm_dir)
    assert len(items) == 999 and report.loaded == 999
    assert report.reasons == {"response1 is not text (bool)": 4, "response2 is not text (bool)": 2}
    bad = next(i for i in items if i.item_id == "157")
    assert bad.response_a is None and bad.labels == {"annotator1": "A", "annotator2": "A", "annotator3": "tie"}
    gpt = [i.judges["gpt-3.5-turbo"] for i in items]
    assert sum(v["unparseable"] for v in gpt) == 25 and all(v["label"] == "tie" for v in gpt if v["unparseable"])
    assert all(i.judges["pandalm-7b"]["reference"] is not None for i in items)
    assert (items[0].model_a, items[0].model_b) == ("bloom-7b", "llama-7b")  # its cmp_key
    assert len({(i.model_a, i.model_b) for i in items}) == 10  # five models, every pair

    assert import_judgments(items, "pandalm", "pandalm:test", store) == 999
    assert import_judgments(items[:10], "pandalm", "pandalm:test", store) == 10  # replaces the set
    assert judgment_sets(store) == {"pandalm": 10}
    assert load_set("pandalm", store)[0] == items[0]
    with pytest.raises(InvalidInputError, match="No judgment set named 'nope'; imported sets: pandalm"):
        load_set("nope", store)


def test_a_fresh_home_gets_the_bundled_human_judgments_once(store) -> None:
    from travelbot.analysis.judgments import import_bundled, judgment_sets

    assert import_bundled(store) == ["pandalm"]
    assert judgment_sets(store) == {"pandalm": 999}
    assert import_bundled(store) == []  # never again, also once someone imported their own sets


def test_a_bundled_set_is_imported_when_asked_for_by_name(store, pandalm_dir) -> None:
    from travelbot.analysis.judgments import import_bundled_set, import_judgments, judgment_sets, load_pandalm

    items, _ = load_pandalm(pandalm_dir)
    import_judgments(items[:5], "mine", "test", store)  # someone's own set first: the home is no longer fresh
    assert not import_bundled_set("no-such-set", store)
    assert import_bundled_set("pandalm", store) and judgment_sets(store) == {"mine": 5, "pandalm": 999}
    assert not import_bundled_set("pandalm", store)  # once
