"""The leakage check against golden test questions."""

from __future__ import annotations

from travelbot.data.leakage import find_leaks, normalize

GOLDEN = ["What's the best month to see cherry blossoms in Kyoto?", "Is tap water safe to drink in Mexico City?"]


def test_exact_after_normalisation_and_paraphrases_are_caught():
    questions = [
        "whats the best month to see cherry blossoms in KYOTO",  # same text once normalised
        "When is the best month to see the cherry blossoms in Kyoto?",  # close paraphrase
        "How much does a day in Lisbon cost?",  # unrelated
    ]
    leaks, report = find_leaks(questions, GOLDEN, threshold=0.9)
    assert leaks == [True, True, False]
    summary = report.summary()
    assert summary["dropped_exact"] == 1 and summary["dropped_similar"] == 1 and summary["threshold"] == 0.9
    assert summary["max_similarity_kept"] < 0.9
    assert {e["how"].split()[0] for e in summary["examples"]} == {"exact", "cosine"}


def test_threshold_is_respected():
    question = ["Can I drink the tap water in Mexico City?"]
    assert find_leaks(question, GOLDEN, threshold=0.99)[0] == [False]
    assert find_leaks(question, GOLDEN, threshold=0.7)[0] == [True]


def test_normalize():
    assert normalize("  Café — ¿Dónde?  ") == "cafe donde"
