"""Questions for passages: templates, or a generator model with seeding, caching and a fallback."""

from __future__ import annotations

from travelbot.data.questions import GenerationCache, generate_questions, template_question, usable_question
from travelbot.retrieval import Passage

PASSAGES = [
    Passage("lisbon#food", "lisbon", "Lisbon, Portugal", "Food", "Pastéis de nata are custard tarts.", {"kind": "destination"}),
    Passage("jet-lag#on-the-flight", "jet-lag", "Jet lag", "On the flight", "Set your watch to the destination.",
            {"kind": "practical"}),
    Passage("rome#budget", "rome", "Rome, Italy", "Budget", "Hostels cost about €35 a night.", {"kind": "destination"}),
]


def test_templates_read_naturally_and_are_seeded():
    assert template_question(PASSAGES[0]) in {"What should I eat in Lisbon, and where?",
                                               "What local dishes should I try in Lisbon?"}
    assert "on the flight" in template_question(PASSAGES[1]) and "jet lag" in template_question(PASSAGES[1])
    assert template_question(PASSAGES[2], seed=3) == template_question(PASSAGES[2], seed=3)


def test_usable_question_filter():
    assert usable_question('Question: "Is Rome expensive for backpackers?"\nmore') == "Is Rome expensive for backpackers?"
    assert usable_question("Rome is lovely.") is None
    assert usable_question("Why?") is None
    assert usable_question("") is None


def test_model_generator_is_seeded_cached_and_falls_back(tmp_path, backend):
    questions, counts = generate_questions(PASSAGES, "smollm2-135m", seed=0, cache_dir=tmp_path)
    assert len(questions) == 3 and all(q.endswith("?") for q in questions)
    assert counts["model"] + counts["fallback"] == 3 and counts["cached"] == 0
    cache_file = tmp_path / "questions-smollm2-135m.jsonl"
    assert len(cache_file.read_text().splitlines()) == 3
    again, counts_again = generate_questions(PASSAGES, "smollm2-135m", seed=0, cache_dir=tmp_path)
    assert again == questions and counts_again["cached"] == 3


def test_cache_survives_a_torn_line(tmp_path):
    path = tmp_path / "c.jsonl"
    cache = GenerationCache(path)
    cache.put_many({"k1": "one"})
    with path.open("a") as handle:
        handle.write('{"key": "k2", "te')
    assert GenerationCache(path).get("k1") == "one" and GenerationCache(path).get("k2") is None
