"""The golden-answer set: schema, coverage, citations, and recall@5 of the retriever."""

from __future__ import annotations

import json

import pytest

from travelbot.data.corpus import all_passages, corpus_retriever, load_corpus
from travelbot.data.golden import QUESTION_TYPES, load_golden, recall_at_k


@pytest.fixture(scope="module")
def known():
    documents, _ = load_corpus()
    return {p.passage_id for p in all_passages(documents)}


def test_golden_set_covers_every_type_in_both_splits_and_cites_real_passages(known):
    questions, report = load_golden(known_passages=known)
    assert report.refused == 0, report.problems
    assert len(questions) >= 60
    assert len({q.id for q in questions}) == len(questions)
    for split in ("dev", "test"):
        assert {q.question_type for q in questions if q.split == split} == set(QUESTION_TYPES)
    for q in questions:
        assert q.question.strip() and len(q.reference_answer.split()) >= 20
        assert all(p in known for p in q.passage_ids)


def test_bad_golden_lines_are_reported(tmp_path, known):
    good = {"id": "g1", "question": "Q?", "reference_answer": "A.", "question_type": "safety",
            "passage_ids": ["lisbon#safety"], "split": "dev"}
    lines = [
        good,
        good,  # duplicate id
        {**good, "id": "g2", "question_type": "gossip"},
        {**good, "id": "g3", "passage_ids": ["atlantis#food"]},
        {**good, "id": "g4", "question": True},
        {**good, "id": "g5", "split": "train"},
    ]
    path = tmp_path / "golden.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n{oops\n", encoding="utf-8")
    questions, report = load_golden(path, known_passages=known)
    assert [q.id for q in questions] == ["g1"]
    assert report.loaded == 1 and report.refused == 6
    assert report.reasons["duplicate id"] == 1 and report.reasons["cites unknown passages"] == 1
    assert report.reasons["malformed JSON"] == 1


def test_retrieval_recall_at_5_on_the_golden_set(known):
    questions, _ = load_golden(known_passages=known)
    figures = recall_at_k(questions, corpus_retriever(), k=5)
    assert figures["n"] == len(questions)
    assert figures["recall"] >= 0.8, figures
    assert set(figures["by_type"]) == set(QUESTION_TYPES)
