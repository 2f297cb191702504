"""Retrieval: a persisted llama-index vector index over passages, rebuilt only when they change."""

from __future__ import annotations

import pytest

from travelbot.config import Settings
from travelbot.errors import TravelbotError
from travelbot.retrieval import Passage, Retriever, section_id, slugify

PASSAGES = [
    Passage("bangkok#safety", "bangkok", "Bangkok, Thailand", "Safety",
            "Watch for the gem scam near the Grand Palace: a friendly stranger says it is closed today."),
    Passage("bangkok#food", "bangkok", "Bangkok, Thailand", "Food",
            "Street food on Yaowarat Road in Chinatown is best after dark; try pad thai and mango sticky rice."),
    Passage("reykjavik#when-to-go", "reykjavik", "Reykjavik, Iceland", "When to go",
            "Northern lights season runs from September to April; June brings the midnight sun."),
]


def test_retrieve_returns_passages_with_ids_titles_sections_and_scores(tmp_path):
    retriever = Retriever(PASSAGES, Settings(home=tmp_path))
    hits = retriever.retrieve("Someone told me the palace is shut and offered a tuk-tuk ride, is it a scam?", k=2)
    assert [h.passage_id for h in hits][0] == "bangkok#safety"
    top = hits[0]
    assert (top.doc_id, top.title, top.section) == ("bangkok", "Bangkok, Thailand", "Safety")
    assert "gem scam" in top.text and 0 < top.score <= 1
    assert hits[0].score >= hits[1].score
    assert len(retriever.retrieve("aurora", k=50)) == 3  # k is capped at the number of passages


def test_index_is_persisted_and_rebuilt_only_when_passages_change(tmp_path):
    settings = Settings(home=tmp_path)
    first = Retriever(PASSAGES, settings)
    assert first.rebuilt and (first.path / "docstore.json").exists()
    again = Retriever(PASSAGES, settings)
    assert not again.rebuilt and again.path == first.path
    changed = PASSAGES[:2] + [Passage("reykjavik#when-to-go", "reykjavik", "Reykjavik", "When to go", "Go in winter.")]
    third = Retriever(changed, settings)
    assert third.rebuilt and third.path != first.path


def test_a_corrupt_index_is_rebuilt(tmp_path):
    settings = Settings(home=tmp_path)
    path = Retriever(PASSAGES, settings).path
    (path / "docstore.json").write_text("{broken")
    retriever = Retriever(PASSAGES, settings)
    assert retriever.rebuilt and retriever.retrieve("northern lights")[0].doc_id == "reykjavik"


def test_bad_inputs(tmp_path):
    with pytest.raises(TravelbotError, match="corpus is empty"):
        Retriever([], Settings(home=tmp_path))
    with pytest.raises(TravelbotError, match="unique"):
        Retriever(PASSAGES + PASSAGES[:1], Settings(home=tmp_path))
    with pytest.raises(TravelbotError, match="Type a question"):
        Retriever(PASSAGES, Settings(home=tmp_path)).retrieve("   ")


def test_ids():
    assert slugify("Getting there & around!") == "getting-there-around"
    assert section_id("lisbon#food/2") == "lisbon#food" and section_id("lisbon#food") == "lisbon#food"


def test_a_fresh_home_reads_the_shipped_index_of_the_bundled_guides(tmp_path):
    """assets/index/ holds the index of exactly today's guides (`make guide-index` after changing them)."""
    from travelbot.data.corpus import all_passages, load_corpus

    settings = Settings(home=tmp_path)
    documents, _ = load_corpus(settings)
    retriever = Retriever(all_passages(documents), settings)
    assert retriever.bundled.is_dir(), "assets/index/ is stale: run `make guide-index`"
    assert not retriever.rebuilt and not retriever.path.exists()  # read from assets, nothing written
    hits = retriever.retrieve("Which neighbourhoods are good to stay in Mexico City?", k=2)
    assert hits[0].doc_id == "mexico-city"
    assert (settings.assets_dir / "index").is_dir() and len(list((settings.assets_dir / "index").iterdir())) == 1


def test_minilm_gives_the_vectors_the_shipped_index_was_built_with(tmp_path):
    """The index under assets/ was embedded by sentence-transformers; travelbot embeds on transformers alone."""
    import json

    import numpy as np

    from travelbot.data.corpus import all_passages, load_corpus
    from travelbot.retrieval import _embedding_text, embed

    settings = Settings(home=tmp_path)
    passages = {p.passage_id: p for p in all_passages(load_corpus(settings)[0])}
    retriever = Retriever(list(passages.values()), settings)
    stored = json.loads((retriever.bundled / "default__vector_store.json").read_text())["embedding_dict"]
    ids = sorted(stored)[:24]
    ours = np.asarray(embed([_embedding_text(passages[i]) for i in ids]))
    assert np.abs(ours - np.asarray([stored[i] for i in ids])).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    long = np.asarray(embed(["tap water " * 400, "tap water " * 300]))  # both cut at 256 tokens: the same vector
    assert np.abs(long[0] - long[1]).max() < 1e-6
