"""Adding sources: uploads become corpus guides or raw Reddit data; bad files and lines are reported."""

from __future__ import annotations

import json

import pytest

from travelbot.config import Settings
from travelbot.data.corpus import load_corpus
from travelbot.data.sources import add_source
from travelbot.errors import TravelbotError


@pytest.fixture
def settings(tmp_path):
    return Settings(home=tmp_path / "home")


def test_guides_documents_and_reddit_uploads_are_added_and_bad_parts_reported(tmp_path, settings):
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "faroe.md").write_text("---\nid: faroe-islands\ntitle: Faroe Islands\nregion: Europe\n---\n"
                                     "## When to go\n\nJune to August for puffins.\n", encoding="utf-8")
    (upload / "tips.txt").write_text("Carry a paper map on hikes; fog rolls in fast.", encoding="utf-8")
    (upload / "photo.jpg").write_bytes(b"\xff\xd8")
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        json.dumps({"id": 7, "title": "Tbilisi", "text": "## Food\n\nKhachapuri everywhere.", "region": "Asia"}) + "\n"
        + json.dumps({"id": "x", "title": False, "text": "no title"}) + "\n"
        + "{broken\n"
        + json.dumps({"id": "lisbon", "title": "Lisbon again", "text": "Duplicate of a bundled guide."}) + "\n",
        encoding="utf-8",
    )
    reddit = tmp_path / "reddit.jsonl"
    reddit.write_text(
        json.dumps({"id": "t3_a", "kind": "post", "title": "Q?", "body": "", "score": 3}) + "\n"
        + json.dumps({"id": "t1_b", "kind": "comment", "body": "A.", "score": True}) + "\n",
        encoding="utf-8",
    )
    report = add_source([upload, docs, reddit], settings)
    assert sorted(report["guides_added"]) == ["7", "faroe-islands", "tips"]
    assert report["reddit_records"] == 1
    reasons = report["reasons"]
    assert reasons["unsupported file type"] == 1 and reasons["malformed JSON"] == 1
    assert reasons["field 'title' must be non-empty text"] == 1 and reasons["field 'score' must be a number"] == 1
    assert reasons["duplicate id"] == 1
    documents, corpus_report = load_corpus(settings)
    by_id = {d.doc_id: d for d in documents}
    assert by_id["faroe-islands"].region == "Europe" and "puffins" in by_id["faroe-islands"].sections[0][1]
    assert by_id["7"].title == "Tbilisi" and by_id["7"].sections == [("Food", "Khachapuri everywhere.")]
    assert "fog" in by_id["tips"].intro
    assert corpus_report.refused == 0
    assert len(list((settings.data_dir / "raw").glob("reddit-upload-*.jsonl"))) == 1


def test_nothing_usable_is_one_sentence(tmp_path, settings):
    with pytest.raises(TravelbotError, match="Nothing to add"):
        add_source([], settings)
